// A trivial HTTP responder: GET /healthz answers {"ok":true}. SPIN_US > 0 burns that much CPU
// per request first (the bench's deliberately slow service).
package main

import (
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	spin, _ := strconv.Atoi(os.Getenv("SPIN_US"))
	body := []byte(`{"ok":true}`)
	handler := func(w http.ResponseWriter, r *http.Request) {
		if spin > 0 {
			end := time.Now().Add(time.Duration(spin) * time.Microsecond)
			x := 0
			for time.Now().Before(end) {
				x++
			}
			_ = x
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
	http.HandleFunc("/", handler)
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	_ = http.ListenAndServe("127.0.0.1:"+port, nil)
}
