package meta

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

const (
	testToken         = "EAAGm0PX4ZCpsBAKZCtestTOKEN9xYz"
	testPhoneNumberID = "106540352242922"
	testAppSecret     = "3c9d5e1f0a7b24c68e1d2f3a4b5c6d7e"
	testVerifyToken   = "storebridge-verify-7Qk2"
)

func testCreds(baseURL string) map[string]string {
	c := map[string]string{
		"access_token":    testToken,
		"phone_number_id": testPhoneNumberID,
		"app_secret":      testAppSecret,
		"verify_token":    testVerifyToken,
	}
	if baseURL != "" {
		c["base_url"] = baseURL
	}
	return c
}

func newTestClient(t *testing.T, baseURL string, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(testCreds(baseURL), adapters.Options{AllowInsecure: true, Timeout: timeout})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return c
}

// orderPlaced is a template message with values in template order.
func orderPlaced() app.Message {
	return app.Message{
		DeliveryID: "dlv_01JZ8Q6M3T1N0R4K7P9B2C5D8E",
		Mode:       "template",
		Template:   "order_placed",
		Language:   "en",
		Names:      []string{"customer.first_name", "order.number", "order.total"},
		Values:     []string{"Priya", "#1042", "₹1,499.00"},
		Event:      "order.placed",
		To:         app.Recipient{Phone: "+919876543210", Name: "Priya Sharma", Identity: "+919876543210"},
	}
}

// codTemplate is the first COD question: an approved template whose
// quick-reply buttons carry our ids.
func codTemplate() app.Message {
	return app.Message{
		DeliveryID: "dlv_cod_8812",
		Mode:       "template",
		Template:   "cod_confirm",
		Language:   "hi",
		Names:      []string{"customer.first_name", "order.number", "order.total"},
		Values:     []string{"ज्योति", "#2207", "₹899.00"},
		Event:      "cod.confirmation_requested",
		To:         app.Recipient{Phone: "+918123456789", Name: "ज्योति वर्मा"},
		Buttons: []app.Button{
			{ID: "cod:confirm:ord_2207", Title: "Confirm ✅"},
			{ID: "cod:cancel:ord_2207", Title: "Cancel order"},
		},
	}
}

// codReminder is a free-form button message inside the 24 h window.
func codReminder() app.Message {
	return app.Message{
		DeliveryID: "dlv_cod_8813",
		Mode:       "template",
		Values:     []string{"Bonjour Anaïs, please confirm your cash-on-delivery order #2208 of €42.50 & we'll ship it today."},
		Event:      "cod.reminder",
		To:         app.Recipient{Phone: "+33612345678", Name: "Anaïs Dubois"},
		Buttons: []app.Button{
			{ID: "cod:confirm:ord_2208", Title: "Confirm order"},
			{ID: "cod:cancel:ord_2208", Title: "Cancel"},
		},
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(map[string]string)
		insecure   bool
		wantFields []string
	}{
		{name: "valid", edit: func(map[string]string) {}},
		{name: "bearer prefix pasted", edit: func(c map[string]string) { c["access_token"] = "Bearer " + testToken }},
		{name: "all missing", edit: func(c map[string]string) { clear(c) },
			wantFields: []string{"credentials.access_token", "credentials.phone_number_id", "credentials.app_secret", "credentials.verify_token"}},
		{name: "token with a space", edit: func(c map[string]string) { c["access_token"] = "EAAG abc" }, wantFields: []string{"credentials.access_token"}},
		{name: "phone number instead of its id", edit: func(c map[string]string) { c["phone_number_id"] = "+91 98765 43210" }, wantFields: []string{"credentials.phone_number_id"}},
		{name: "short app secret", edit: func(c map[string]string) { c["app_secret"] = "3c9d5e1f" }, wantFields: []string{"credentials.app_secret"}},
		{name: "base_url in production", edit: func(c map[string]string) { c["base_url"] = "https://graph.example.com/v24.0" }, wantFields: []string{"credentials.base_url"}},
		{name: "base_url allowed in dev", edit: func(c map[string]string) { c["base_url"] = "http://127.0.0.1:9999/v24.0" }, insecure: true},
		{name: "bad base_url in dev", edit: func(c map[string]string) { c["base_url"] = "ftp://graph.example.com" }, insecure: true, wantFields: []string{"credentials.base_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := testCreds("")
			tt.edit(creds)
			c, err := New(creds, adapters.Options{AllowInsecure: tt.insecure})
			if len(tt.wantFields) == 0 {
				if err != nil {
					t.Fatalf("New() = %v; want nil", err)
				}
				if c.token != testToken {
					t.Errorf("token = %q; want %q", c.token, testToken)
				}
				if c.Name() != "meta" {
					t.Errorf("Name() = %q; want meta", c.Name())
				}
				return
			}
			adapterstest.RefusedCredentials(t, err, tt.wantFields, "3c9d5e1f")
		})
	}
}

func TestNewDefaultsToProduction(t *testing.T) {
	c, err := New(testCreds(""), adapters.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.BuildRequest(context.Background(), orderPlaced())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := req.URL.String(), "https://graph.facebook.com/v24.0/106540352242922/messages"; got != want {
		t.Errorf("URL = %s; want %s", got, want)
	}
}

func TestBuildRequestGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  app.Message
	}{
		{"template", orderPlaced()},
		{"template_quick_replies", codTemplate()},
		{"interactive_buttons", codReminder()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, "https://graph.test/v24.0", 0)
			req, err := c.BuildRequest(context.Background(), tt.msg)
			if err != nil {
				t.Fatalf("BuildRequest() = %v", err)
			}
			if req.Method != http.MethodPost || req.URL.String() != "https://graph.test/v24.0/106540352242922/messages" {
				t.Errorf("request = %s %s", req.Method, req.URL)
			}
			if got := req.Header.Get("Authorization"); got != "Bearer "+testToken {
				t.Errorf("Authorization = %q", got)
			}
			if got := req.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			adapterstest.Golden(t, tt.name+".golden.json", body)
		})
	}
}

func TestBuildRequestRefusesWhatMetaCannotTake(t *testing.T) {
	long := codReminder()
	long.Buttons[0].Title = "Confirm my order now please"
	four := codReminder()
	four.Buttons = append(four.Buttons, app.Button{ID: "a", Title: "Later"}, app.Button{ID: "b", Title: "Call me"})
	noText := codReminder()
	noText.Values = nil
	event := orderPlaced()
	event.Mode = "event"
	noTemplate := orderPlaced()
	noTemplate.Template = ""
	noPhone := orderPlaced()
	noPhone.To.Phone = ""
	badPhone := orderPlaced()
	badPhone.To.Phone = "09876543210"
	emptyButtonID := codTemplate()
	emptyButtonID.Buttons[1].ID = ""

	tests := []struct {
		name string
		msg  app.Message
		want string
	}{
		{"title over 20 characters", long, "title"},
		{"four buttons", four, "at most 3 buttons"},
		{"button message without text", noText, "first value"},
		{"event mode", event, "event mode"},
		{"no template and no buttons", noTemplate, "template name"},
		{"no phone", noPhone, "no phone"},
		{"phone not E.164", badPhone, "E.164"},
		{"quick reply without id", emptyButtonID, "button 1"},
	}
	c := newTestClient(t, "https://graph.test/v24.0", 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.BuildRequest(context.Background(), tt.msg)
			var pe *app.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("BuildRequest() = %v; want *app.ProviderError", err)
			}
			if pe.Retryable || pe.Provider != "meta" || !strings.Contains(pe.Message, tt.want) {
				t.Errorf("error = %+v; want permanent meta error mentioning %q", pe, tt.want)
			}
			if strings.Contains(err.Error(), "9876543210") {
				t.Errorf("error %q shows the phone number", err)
			}
		})
	}
}

// fakeGraph checks what the Cloud API checks and answers with answer.
func fakeGraph(t *testing.T, status int, answer string) (*httptest.Server, *[]map[string]any) {
	t.Helper()
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"AX1"}}`)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v24.0/"+testPhoneNumberID+"/messages" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"Unsupported post request.","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"AX2"}}`)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("body is not JSON: %v", err)
		}
		got = append(got, body)
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestSendTemplate(t *testing.T) {
	srv, got := fakeGraph(t, http.StatusOK,
		`{"messaging_product":"whatsapp","contacts":[{"input":"919876543210","wa_id":"919876543210"}],"messages":[{"id":"wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQjE2RjI3QTk0NkM0RTVCMDQ5AA==","message_status":"accepted"}]}`)
	c := newTestClient(t, srv.URL+"/v24.0", 0)

	res, err := c.Send(context.Background(), orderPlaced())
	if err != nil {
		t.Fatalf("Send() = %v", err)
	}
	if want := "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQjE2RjI3QTk0NkM0RTVCMDQ5AA=="; res.ProviderMessageID != want {
		t.Errorf("ProviderMessageID = %q; want %q", res.ProviderMessageID, want)
	}
	if len(*got) != 1 {
		t.Fatalf("server got %d requests; want 1", len(*got))
	}
	body := (*got)[0]
	if body["messaging_product"] != "whatsapp" || body["to"] != "919876543210" || body["type"] != "template" {
		t.Errorf("envelope = %v", body)
	}
	tpl := body["template"].(map[string]any)
	params := tpl["components"].([]any)[0].(map[string]any)["parameters"].([]any)
	var texts []string
	for _, p := range params {
		texts = append(texts, p.(map[string]any)["text"].(string))
	}
	if strings.Join(texts, "|") != "Priya|#1042|₹1,499.00" {
		t.Errorf("parameters = %q; want values in template order", texts)
	}
}

func TestSendHeldForQualityAssessmentIsAccepted(t *testing.T) {
	srv, _ := fakeGraph(t, http.StatusOK,
		`{"messaging_product":"whatsapp","contacts":[{"input":"33612345678","wa_id":"33612345678"}],"messages":[{"id":"wamid.HELD1","message_status":"held_for_quality_assessment"}]}`)
	c := newTestClient(t, srv.URL+"/v24.0", 0)
	res, err := c.Send(context.Background(), codReminder())
	if err != nil || res.ProviderMessageID != "wamid.HELD1" {
		t.Fatalf("Send() = %+v, %v; want wamid.HELD1", res, err)
	}
}

func TestSendAnswerWithoutIDIsPermanent(t *testing.T) {
	srv, _ := fakeGraph(t, http.StatusOK, `{"messaging_product":"whatsapp","contacts":[],"messages":[]}`)
	c := newTestClient(t, srv.URL+"/v24.0", 0)
	_, err := c.Send(context.Background(), orderPlaced())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Status != 200 {
		t.Fatalf("Send() = %v; want permanent error with status 200", err)
	}
}

func TestSendErrorClassification(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		wantRetryable bool
		wantCode      string
		wantMessage   string
	}{
		{"throughput 130429 on a 400", 400,
			`{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},"fbtrace_id":"A1b2"}}`,
			true, "130429", "(#130429) Rate limit hit (details: Cloud API message throughput has been reached.; fbtrace_id A1b2)"},
		{"pair rate 131056", 400,
			`{"error":{"message":"(#131056) (Business Account, Consumer Account) pair rate limit hit","type":"OAuthException","code":131056,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."},"fbtrace_id":"A2"}}`,
			true, "131056", "pair rate limit hit"},
		{"app rate limit 4", 400,
			`{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"A3"}}`,
			true, "4", "Application request limit reached"},
		{"business rate limit 80007", 400,
			`{"error":{"message":"(#80007) There have been too many calls to this WhatsApp Business account.","type":"OAuthException","code":80007,"fbtrace_id":"A4"}}`,
			true, "80007", "too many calls"},
		{"unknown error 131000", 500,
			`{"error":{"message":"(#131000) Something went wrong","type":"OAuthException","code":131000,"error_data":{"messaging_product":"whatsapp","details":"Something went wrong"},"fbtrace_id":"A5"}}`,
			true, "131000", "Something went wrong"},
		{"service unavailable 2", 503,
			`{"error":{"message":"Service temporarily unavailable","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"A6"}}`,
			true, "2", "Service temporarily unavailable"},
		{"maintenance 131057", 400,
			`{"error":{"message":"(#131057) Account in maintenance mode","type":"OAuthException","code":131057,"fbtrace_id":"A7"}}`,
			true, "131057", "maintenance"},
		{"expired token 190", 401,
			`{"error":{"message":"Error validating access token: Session has expired on Tuesday, 01-Jul-25 04:00:00 PDT.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A8"}}`,
			false, "190", "Session has expired on Tuesday, 01-Jul-25 04:00:00 PDT. (subcode 463; fbtrace_id A8)"},
		{"outside the 24 h window 131047", 400,
			`{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},"fbtrace_id":"A9"}}`,
			false, "131047", "more than 24 hours"},
		{"template missing 132001", 404,
			`{"error":{"message":"(#132001) Template name does not exist in the translation","type":"OAuthException","code":132001,"error_data":{"messaging_product":"whatsapp","details":"template name (order_placed) does not exist in en"},"fbtrace_id":"B1"}}`,
			false, "132001", "does not exist in en"},
		{"parameter count 132000", 400,
			`{"error":{"message":"(#132000) Number of parameters does not match the expected number of params","type":"OAuthException","code":132000,"error_data":{"messaging_product":"whatsapp","details":"body: number of localizable_params (3) does not match the expected number of params (2)"},"fbtrace_id":"B2"}}`,
			false, "132000", "localizable_params (3)"},
		{"invalid parameter 100", 400,
			`{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100,"error_data":{"messaging_product":"whatsapp","details":"Parameter 'to' is not a valid phone number"},"fbtrace_id":"B3"}}`,
			false, "100", "Invalid parameter"},
		{"invalid parameter 100 even on a 500", 500,
			`{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100,"fbtrace_id":"B4"}}`,
			false, "100", "Invalid parameter"},
		{"not on the allowed list 131030", 400,
			`{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."},"fbtrace_id":"B5"}}`,
			false, "131030", "allowed list"},
		{"spam limit 131048 waits for quality", 400,
			`{"error":{"message":"(#131048) Spam rate limit hit","type":"OAuthException","code":131048,"fbtrace_id":"B6"}}`,
			false, "131048", "Spam rate limit hit"},
		{"number not registered 133010", 400,
			`{"error":{"message":"(#133010) Account not registered","type":"OAuthException","code":133010,"fbtrace_id":"B7"}}`,
			false, "133010", "Account not registered"},
		{"permission 200", 403,
			`{"error":{"message":"(#200) Permissions error","type":"OAuthException","code":200,"fbtrace_id":"B8"}}`,
			false, "200", "Permissions error"},
		{"unknown code on a 503", 503,
			`{"error":{"message":"Unexpected failure","type":"OAuthException","code":999999,"fbtrace_id":"B9"}}`,
			true, "999999", "Unexpected failure"},
		{"unknown code on a 400", 400,
			`{"error":{"message":"Unexpected request","type":"OAuthException","code":999999,"fbtrace_id":"C1"}}`,
			false, "999999", "Unexpected request"},
		{"HTML from a proxy", 502, `<html><body><h1>502 Bad Gateway</h1></body></html>`,
			true, "", "502 Bad Gateway"},
		{"429 without a body", 429, ``, true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fakeGraph(t, tt.status, tt.body)
			c := newTestClient(t, srv.URL+"/v24.0", 0)
			_, err := c.Send(context.Background(), orderPlaced())
			var pe *app.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("Send() = %v; want *app.ProviderError", err)
			}
			if pe.Retryable != tt.wantRetryable {
				t.Errorf("Retryable = %v; want %v (%v)", pe.Retryable, tt.wantRetryable, pe)
			}
			if pe.Provider != "meta" || pe.Status != tt.status || pe.Code != tt.wantCode {
				t.Errorf("error = %+v; want meta, status %d, code %q", pe, tt.status, tt.wantCode)
			}
			if !strings.Contains(pe.Message, tt.wantMessage) {
				t.Errorf("Message = %q; want it to contain %q", pe.Message, tt.wantMessage)
			}
			if !strings.HasPrefix(err.Error(), "meta: ") {
				t.Errorf("Error() = %q; want the provider prefix", err)
			}
		})
	}
}

func TestSendTransportFailures(t *testing.T) {
	adapterstest.TransportFailures(t, func(ctx context.Context, serverURL string, timeout time.Duration) error {
		_, err := newTestClient(t, serverURL+"/v24.0", timeout).Send(ctx, orderPlaced())
		return err
	}, testToken)
}

func TestVerify(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Header.Get("Authorization") != "Bearer "+testToken:
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"Malformed access token EAAGbad","type":"OAuthException","code":190,"fbtrace_id":"V1"}}`)
		case r.Method != http.MethodGet || r.URL.Path != "/v24.0/"+testPhoneNumberID ||
			r.URL.Query().Get("fields") != "display_phone_number,verified_name":
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"Unsupported get request.","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"V2"}}`)
		default:
			io.WriteString(w, `{"display_phone_number":"+91 80 4718 2290","verified_name":"Asha Naturals","id":"106540352242922"}`)
		}
	}))
	defer srv.Close()

	if err := newTestClient(t, srv.URL+"/v24.0", 0).Verify(context.Background()); err != nil {
		t.Errorf("Verify() = %v; want nil", err)
	}

	creds := testCreds(srv.URL + "/v24.0")
	creds["access_token"] = "EAAGbad"
	bad, err := New(creds, adapters.Options{AllowInsecure: true})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Verify(context.Background())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Code != "190" || !strings.Contains(pe.Message, "Malformed access token") {
		t.Fatalf("Verify() with a bad token = %v; want permanent code 190 with Meta's reason", err)
	}
}
