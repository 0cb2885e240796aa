// Mutual TLS with Go's crypto/tls and the PEM files mtls-ca writes, either end, standard library only:
//
//	mtls server <cert chain> <key> <client CAs> <addr>   prints "listening <addr>", then serves GET / with
//	                                                     the client's verified chain: "CN=pavel < CN=… < CN=…"
//	mtls client <url> <cert chain> <key> <root CAs>      prints the status and the body; exit 1 on an error
//
// A chain file is a leaf followed by the intermediates to send with it (server.fullchain.pem).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func pool(file string) *x509.CertPool {
	pem, err := os.ReadFile(file)
	if err != nil {
		fail(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		fail(fmt.Errorf("no certificate in %s", file))
	}
	return p
}

func keyPair(chain, key string) tls.Certificate {
	pair, err := tls.LoadX509KeyPair(chain, key)
	if err != nil {
		fail(err)
	}
	return pair
}

func fail(err error) {
	fmt.Println("FAIL", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: mtls server <chain> <key> <clientCAs> <addr> | client <url> <chain> <key> <rootCAs>")
		os.Exit(2)
	}
	a := os.Args[2:]
	switch os.Args[1] {
	case "server":
		config := &tls.Config{
			Certificates: []tls.Certificate{keyPair(a[0], a[1])},
			ClientCAs:    pool(a[2]),
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		}
		ln, err := tls.Listen("tcp", a[3], config)
		if err != nil {
			fail(err)
		}
		fmt.Println("listening", ln.Addr())
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var names []string
			for _, c := range r.TLS.VerifiedChains[0] {
				names = append(names, c.Subject.String())
			}
			fmt.Fprint(w, strings.Join(names, " < "))
		})
		fail(http.Serve(ln, handler))
	case "client":
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{keyPair(a[1], a[2])},
			RootCAs:      pool(a[3]),
			MinVersion:   tls.VersionTLS12,
		}}}
		res, err := client.Get(a[0])
		if err != nil {
			fail(err)
		}
		body, _ := io.ReadAll(res.Body)
		fmt.Println(res.StatusCode, string(body))
	default:
		os.Exit(2)
	}
}
