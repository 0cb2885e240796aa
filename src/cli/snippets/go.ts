/**
 * Go: a net/http server with RequireAndVerifyClientCert (and the CRL check Go does not make itself) and a
 * client; both single files for `go run`, standard library only.
 */
import { clientOf, crlDeadline, type SnippetBuilders, type SnippetInput, str } from './model.js';

function server({ facts: f, port }: SnippetInput): string {
  const users = f.users.filter((u) => u.roles.length > 0);
  return `// Mutual TLS with Go's net/http: the customer API of \`mtls-ca serve\`, as a template for your own.
// Run it as it is: go run server.go
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log"
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
	// Every CA in force: with an intermediate, or after \`mtls-ca ca rotate\`, the file holds several, and a
	// client certificate may chain to any of them.
	cas := loadCAs(${str(f.caCert)})
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca)
	}
	crls := loadCRLs(${str(f.crl)}, cas)

	server := &http.Server{
		Addr: ":${port}",
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// RequireAndVerifyClientCert: RequireAnyClientCert would take any certificate at all.
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  pool,
			// Go never reads a CRL itself: check the verified chains here. Read at start; past a CRL's next
			// update (the issuing CA's: ${crlDeadline(f)}) the clients under that CA are refused: restart
			// after each revoke or \`mtls-ca crl\`.
			VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
				for _, chain := range chains {
					if err := checkChain(chain, cas, crls, time.Now()); err != nil {
						return err
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

// caCRL is what the CRL of one CA says: the serials it revoked, and until when it holds.
type caCRL struct {
	revoked    map[string]bool
	nextUpdate time.Time
}

// loadCAs reads every certificate of the file.
func loadCAs(file string) []*x509.Certificate {
	var cas []*x509.Certificate
	for _, block := range pemBlocks(file, "CERTIFICATE") {
		ca, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			log.Fatal(file, ": ", err)
		}
		cas = append(cas, ca)
	}
	return cas
}

// loadCRLs reads every CRL of the file (there is one per CA in force), checks that one of the CAs signed
// it, and returns them by that CA's certificate.
func loadCRLs(file string, cas []*x509.Certificate) map[string]caCRL {
	crls := map[string]caCRL{}
	for _, block := range pemBlocks(file, "X509 CRL") {
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			log.Fatal(file, ": ", err)
		}
		signer := signerOf(crl.RawIssuer, crl.CheckSignatureFrom, cas)
		if signer == nil {
			log.Fatal(file, ": the CRL of ", crl.Issuer, " is signed by none of the CAs")
		}
		revoked := map[string]bool{}
		for _, entry := range crl.RevokedCertificates {
			revoked[entry.SerialNumber.String()] = true
		}
		crls[string(signer.Raw)] = caCRL{revoked, crl.NextUpdate}
	}
	return crls
}

// checkChain refuses a verified chain when a certificate of it is revoked by the CA that issued it, or that
// CA's CRL is missing or past its next update. Every certificate but a root is checked, the chain's last
// one too: ClientCAs holds the intermediates, so a chain may end at one, and only the root's CRL says
// whether it is revoked.
func checkChain(chain, cas []*x509.Certificate, crls map[string]caCRL, now time.Time) error {
	for i, cert := range chain {
		if bytes.Equal(cert.RawIssuer, cert.RawSubject) {
			break // a root: no CRL lists it
		}
		var issuer *x509.Certificate
		if i+1 < len(chain) {
			issuer = chain[i+1]
		} else {
			issuer = signerOf(cert.RawIssuer, cert.CheckSignatureFrom, cas)
		}
		if issuer == nil {
			return fmt.Errorf("no CA in force issued %s", cert.Subject)
		}
		crl, ok := crls[string(issuer.Raw)]
		switch {
		case !ok:
			return fmt.Errorf("no CRL of %s", issuer.Subject)
		case now.After(crl.nextUpdate):
			return fmt.Errorf("the CRL of %s has expired", issuer.Subject)
		case crl.revoked[cert.SerialNumber.String()]:
			return fmt.Errorf("%s (serial %x) is revoked", cert.Subject, cert.SerialNumber)
		}
	}
	return nil
}

// signerOf returns the CA named issuer whose key made the signature that check verifies, or nil.
func signerOf(issuer []byte, check func(*x509.Certificate) error, cas []*x509.Certificate) *x509.Certificate {
	for _, ca := range cas {
		if bytes.Equal(issuer, ca.RawSubject) && check(ca) == nil {
			return ca
		}
	}
	return nil
}

// pemBlocks returns the PEM blocks of the file of one type, in order.
func pemBlocks(file, kind string) []*pem.Block {
	data, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	var blocks []*pem.Block
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			break
		}
		if block.Type == kind {
			blocks = append(blocks, block)
		}
	}
	if len(blocks) == 0 {
		log.Fatal("no ", kind, " in ", file)
	}
	return blocks
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

export const builders: SnippetBuilders = {
  go: (input) => ({
    target: 'go',
    title: `Go: a server on port ${input.port}; ${clientOf(input.facts).name} calls ${input.url}`,
    environment: [],
    parts: [
      { file: 'server.go', about: 'a net/http server', text: server(input), run: 'go run server.go' },
      { file: 'client.go', about: 'a net/http client', text: client(input), run: 'go run client.go' },
    ],
  }),
};
