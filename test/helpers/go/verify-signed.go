// Verifies certificates and CRLs with a CA certificate, as crypto/tls and crypto/x509 do:
// `verify-signed ca.crt a.crt crl.pem …` (built by test/global-setup.ts). Prints `verified <file> <signature
// algorithm>` for each; exit 1 at the first that does not verify.
package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

func block(file string) *pem.Block {
	data, err := os.ReadFile(file)
	if err != nil {
		fail(file, err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		fail(file, fmt.Errorf("no PEM block"))
	}
	return b
}

func fail(file string, err error) {
	fmt.Printf("FAILED %s: %v\n", file, err)
	os.Exit(1)
}

func main() {
	ca, err := x509.ParseCertificate(block(os.Args[1]).Bytes)
	if err != nil {
		fail(os.Args[1], err)
	}
	for _, file := range os.Args[2:] {
		b := block(file)
		switch b.Type {
		case "X509 CRL":
			crl, err := x509.ParseRevocationList(b.Bytes)
			if err != nil {
				fail(file, err)
			}
			if err := crl.CheckSignatureFrom(ca); err != nil {
				fail(file, err)
			}
			fmt.Printf("verified %s %s\n", file, crl.SignatureAlgorithm)
		default:
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				fail(file, err)
			}
			if err := cert.CheckSignatureFrom(ca); err != nil {
				fail(file, err)
			}
			fmt.Printf("verified %s %s\n", file, cert.SignatureAlgorithm)
		}
	}
}
