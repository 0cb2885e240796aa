// Verifies certificates and CRLs with a CA certificate's public key, as JSSE does when it checks a chain or a
// CRL: `java … VerifySigned ca.crt a.crt crl.pem … [-- ca2.crt b.crt …]…`, each group after `--` with its own
// CA, so that one JVM checks what several CAs signed. Prints `verified <file> <signature algorithm>` for each;
// exit 1 at the first that does not verify.
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;

public class VerifySigned {
  public static void main(String[] args) throws Exception {
    var factory = CertificateFactory.getInstance("X.509");
    X509Certificate ca = null;
    boolean groupStart = true;
    for (String file : args) {
      if (file.equals("--")) {
        groupStart = true;
        continue;
      }
      if (groupStart) {
        try (var in = new FileInputStream(file)) {
          ca = (X509Certificate) factory.generateCertificate(in);
        }
        groupStart = false;
        continue;
      }
      boolean crl = Files.readString(Path.of(file)).contains("X509 CRL");
      try (var in = new FileInputStream(file)) {
        if (crl) {
          X509CRL c = (X509CRL) factory.generateCRL(in);
          c.verify(ca.getPublicKey());
          System.out.println("verified " + file + " " + c.getSigAlgName());
        } else {
          X509Certificate c = (X509Certificate) factory.generateCertificate(in);
          c.verify(ca.getPublicKey());
          System.out.println("verified " + file + " " + c.getSigAlgName());
        }
      } catch (Exception e) {
        System.out.println("FAILED " + file + ": " + e);
        System.exit(1);
      }
    }
  }
}
