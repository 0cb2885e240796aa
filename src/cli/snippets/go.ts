/**
 * Go: a net/http server with RequireAndVerifyClientCert (and the CRL check Go does not make itself) and a
 * client; both single files for `go run`, standard library only.
 */
import { clientOf, crlDeadline, type SnippetInput, type SnippetTarget, str } from './model.js';

function server({ facts: f, port }: SnippetInput): string {
  const users = f.users.filter((u) => u.roles.length > 0);
  return `// Mutual TLS with Go's net/http: the customer API of \`mtls-ca serve\`, as a template for your own.
// Run it as it is: go run server.go
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log"
	"math/big"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"time"
)

// users.json: certificate CN -> roles
var roles = map[string][]string{
${users.map((u) => `\t${str(u.name)}: {${u.roles.map(str).join(', ')}},`).join('\n')}
}

var customerPath = regexp.MustCompile(\`^/customer/(\\d+)$\`)

func main() {
	caPEM, err := os.ReadFile(${str(f.caCert)})
	if err != nil {
		log.Fatal(err)
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		log.Fatal("no certificate in the CA file")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	revoked, nextUpdate := loadCRL(${str(f.crl)}, ca)

	server := &http.Server{
		Addr: ":${port}",
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// RequireAndVerifyClientCert: RequireAnyClientCert would take any certificate at all.
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  pool,
			// Go never reads a CRL itself: check the verified chain here. Read at start; past the CRL's
			// next update (${crlDeadline(f)}) every client is refused: restart after each revoke or
			// \`mtls-ca crl\`.
			VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
				if time.Now().After(nextUpdate) {
					return errors.New("the CRL has expired")
				}
				for _, chain := range chains {
					if revoked[chain[0].SerialNumber.String()] {
						return errors.New("certificate revoked")
					}
				}
				return nil
			},
		},
		Handler:           http.HandlerFunc(handle),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("listening on port ${port}")
	log.Fatal(server.ListenAndServeTLS(${str(f.server.cert)}, ${str(f.server.key)}))
}

// loadCRL reads the CRL, checks that the CA signed it, and returns its revoked serials.
func loadCRL(file string, ca *x509.Certificate) (map[string]bool, time.Time) {
	data, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		log.Fatal("no CRL in ", file)
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		log.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		log.Fatal("the CRL is not signed by the CA: ", err)
	}
	revoked := map[string]bool{}
	for _, entry := range crl.RevokedCertificates {
		revoked[new(big.Int).Set(entry.SerialNumber).String()] = true
	}
	return revoked, crl.NextUpdate
}

func handle(w http.ResponseWriter, r *http.Request) {
	// The verified client certificate is the first of the verified chain.
	cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
	w.Header().Set("Content-Type", "application/json")
	match := customerPath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodGet || match == nil {
		http.Error(w, \`{"error":"not found"}\`, http.StatusNotFound)
		return
	}
	if !hasRole(roles[cn], "user") {
		http.Error(w, \`{"error":"access denied"}\`, http.StatusForbidden)
		return
	}
	id, err := strconv.Atoi(match[1])
	if err != nil {
		http.Error(w, \`{"error":"bad id"}\`, http.StatusBadRequest)
		return
	}
	body, _ := json.Marshal(map[string]any{"id": id, "name": "Customer" + strconv.Itoa(id)})
	w.Write(body)
}

func hasRole(have []string, role string) bool {
	for _, r := range have {
		if r == role {
			return true
		}
	}
	return false
}
`;
}

function client({ facts: f, url }: SnippetInput): string {
  const c = clientOf(f);
  return `// A Go client with ${c.name}'s certificate. Run it as it is: go run client.go
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	// Go's standard library reads PEM, not .p12 (that needs golang.org/x/crypto/pkcs12).
	certificate, err := tls.LoadX509KeyPair(${str(c.cert)}, ${str(c.key)})
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile(${str(f.caCert)})
	if err != nil {
		log.Fatal(err)
	}
	// RootCAs replaces the system roots for this client; never InsecureSkipVerify.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		log.Fatal("no certificate in the CA file")
	}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{certificate},
			RootCAs:      pool,
		}},
	}
	response, err := client.Get(${str(url)})
	if err != nil {
		// A refused certificate shows as EOF or "connection reset": the server's log says why.
		log.Fatal(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(body))
	if response.StatusCode != http.StatusOK {
		os.Exit(1)
	}
}
`;
}

export const goTargets: SnippetTarget[] = [
  {
    name: 'go',
    summary: 'net/http server (RequireAndVerifyClientCert, CRL), client',
    uses: 'both',
    defaultPort: 8443,
    build: (input) => ({
      target: 'go',
      title: `Go: a server on port ${input.port}; ${clientOf(input.facts).name} calls ${input.url}`,
      environment: [],
      parts: [
        { file: 'server.go', about: 'a net/http server', text: server(input), run: 'go run server.go' },
        { file: 'client.go', about: 'a net/http client', text: client(input), run: 'go run client.go' },
      ],
    }),
  },
];
