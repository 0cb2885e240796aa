// An HTTPS server in Go's crypto/tls and net/http, for the doctor interop tests: one listener on a free port
// per argument `name:mode[:tls13]`, mode need (RequireAndVerifyClientCert), optional
// (VerifyClientCertIfGiven) or none (NoClientCert), tls13 for MinVersion TLS 1.3. Go has no CRL support in
// crypto/tls; a server that checks revocation does it in VerifyPeerCertificate, as here, against the -crl
// file. Every listener answers "ok" to any request. Once all listen it prints one line, `listening` and
// `name=port` for each, and runs until killed.
//
//	mtls-server -cert server.crt -key server.key -ca ca.crt -crl crl.pem 127.0.0.1 need:need plain:none
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	certFile := flag.String("cert", "", "server certificate (PEM)")
	keyFile := flag.String("key", "", "server key (PEM)")
	caFile := flag.String("ca", "", "client CAs (PEM)")
	crlFile := flag.String("crl", "", "CRL of the client CA (PEM)")
	flag.Parse()
	args := flag.Args()
	if len(args) < 2 {
		log.Fatal("usage: mtls-server -cert F -key F -ca F [-crl F] HOST NAME:MODE[:tls13]…")
	}
	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		log.Fatal("no CA certificate in ", *caFile)
	}
	revoked := map[string]bool{}
	if *crlFile != "" {
		data, err := os.ReadFile(*crlFile)
		if err != nil {
			log.Fatal(err)
		}
		block, _ := pem.Decode(data)
		if block == nil {
			log.Fatal("no PEM block in ", *crlFile)
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range crl.RevokedCertificates {
			revoked[r.SerialNumber.String()] = true
		}
	}
	checkRevocation := func(_ [][]byte, chains [][]*x509.Certificate) error {
		for _, chain := range chains {
			if len(chain) > 0 && revoked[chain[0].SerialNumber.String()] {
				return errors.New("certificate revoked")
			}
		}
		return nil
	}
	host := args[0]
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	ports := []string{"listening"}
	for _, spec := range args[1:] {
		parts := strings.Split(spec, ":")
		config := &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, MinVersion: tls.VersionTLS12}
		switch parts[1] {
		case "need":
			config.ClientAuth = tls.RequireAndVerifyClientCert
			config.VerifyPeerCertificate = checkRevocation
		case "optional":
			config.ClientAuth = tls.VerifyClientCertIfGiven
		case "none":
			config.ClientAuth = tls.NoClientCert
		default:
			log.Fatal("unknown mode ", parts[1])
		}
		if len(parts) > 2 && parts[2] == "tls13" {
			config.MinVersion = tls.VersionTLS13
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			log.Fatal(err)
		}
		ports = append(ports, fmt.Sprintf("%s=%d", parts[0], ln.Addr().(*net.TCPAddr).Port))
		server := &http.Server{Handler: handler, TLSConfig: config, ErrorLog: log.New(os.Stderr, "", 0)}
		go func() { log.Fatal(server.Serve(tls.NewListener(ln, config))) }()
	}
	fmt.Println(strings.Join(ports, " "))
	select {}
}
