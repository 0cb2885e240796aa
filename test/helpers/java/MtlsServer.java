// A JSSE HTTPS server (Java 17's com.sun.net.httpserver.HttpsServer) for the doctor interop tests, loaded the
// way Spring Boot loads mtls-ca's files: the key store keyStore.p12, the trust store trustStore.jks, and, for
// revocation, the CRL given to the PKIX trust manager (CertPathTrustManagerParameters). One listener on a
// free port per argument `name:mode[:flag]`: mode need (setNeedClientAuth), optional (setWantClientAuth) or
// none; flag tls13 (TLSv1.3 only) or othernames (a trust manager that verifies against the trust store but
// names only the -other CA in its CertificateRequest, through getAcceptedIssuers). Every listener answers
// "ok". Once all listen it prints `listening name=port …` and runs until killed.
//   java MtlsServer <keyStore.p12> <ksPassFile> <trustStore.jks> <tsPassFile> <crl.pem> <other.crt> name:mode[:flag]…
import com.sun.net.httpserver.*;
import java.io.*;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.KeyStore;
import java.security.cert.*;
import java.util.*;
import javax.net.ssl.*;

// The password and key store readers are MtlsHandshake's: the test programs are compiled together.
public class MtlsServer {
    /** Verifies as `inner` does; names only `named` as acceptable issuers. */
    static final class NamingTrustManager extends X509ExtendedTrustManager {
        final X509ExtendedTrustManager inner;
        final X509Certificate[] named;
        NamingTrustManager(X509ExtendedTrustManager inner, X509Certificate named) {
            this.inner = inner;
            this.named = new X509Certificate[] { named };
        }
        public void checkClientTrusted(X509Certificate[] c, String a) throws CertificateException { inner.checkClientTrusted(c, a); }
        public void checkClientTrusted(X509Certificate[] c, String a, Socket s) throws CertificateException { inner.checkClientTrusted(c, a, s); }
        public void checkClientTrusted(X509Certificate[] c, String a, SSLEngine e) throws CertificateException { inner.checkClientTrusted(c, a, e); }
        public void checkServerTrusted(X509Certificate[] c, String a) throws CertificateException { inner.checkServerTrusted(c, a); }
        public void checkServerTrusted(X509Certificate[] c, String a, Socket s) throws CertificateException { inner.checkServerTrusted(c, a, s); }
        public void checkServerTrusted(X509Certificate[] c, String a, SSLEngine e) throws CertificateException { inner.checkServerTrusted(c, a, e); }
        public X509Certificate[] getAcceptedIssuers() { return named.clone(); }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 7) {
            System.err.println("usage: MtlsServer <keyStore.p12> <ksPassFile> <trustStore.jks> <tsPassFile> <crl.pem> <other.crt> name:mode[:flag]…");
            System.exit(2);
        }
        char[] ksPass = MtlsHandshake.pass(args[1]);
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(MtlsHandshake.load(args[0], "PKCS12", ksPass), ksPass);
        KeyStore trust = MtlsHandshake.load(args[2], "JKS", MtlsHandshake.pass(args[3]));
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        X509CRL crl;
        try (InputStream in = new FileInputStream(args[4])) { crl = (X509CRL) cf.generateCRL(in); }
        X509Certificate other;
        try (InputStream in = new FileInputStream(args[5])) { other = (X509Certificate) cf.generateCertificate(in); }

        PKIXBuilderParameters pkix = new PKIXBuilderParameters(trust, new X509CertSelector());
        pkix.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(List.of(crl))));
        pkix.setRevocationEnabled(true);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(new CertPathTrustManagerParameters(pkix));
        X509ExtendedTrustManager checking = (X509ExtendedTrustManager) tmf.getTrustManagers()[0];

        StringBuilder ports = new StringBuilder("listening");
        for (int i = 6; i < args.length; i++) {
            String[] spec = args[i].split(":");
            String mode = spec[1];
            String flag = spec.length > 2 ? spec[2] : "";
            TrustManager tm = flag.equals("othernames") ? new NamingTrustManager(checking, other) : checking;
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), new TrustManager[] { tm }, null);
            HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
            server.setHttpsConfigurator(new HttpsConfigurator(ctx) {
                @Override
                public void configure(HttpsParameters params) {
                    SSLParameters p = getSSLContext().getDefaultSSLParameters();
                    if (mode.equals("need")) p.setNeedClientAuth(true);
                    else if (mode.equals("optional")) p.setWantClientAuth(true);
                    if (flag.equals("tls13")) p.setProtocols(new String[] { "TLSv1.3" });
                    params.setSSLParameters(p);
                }
            });
            server.createContext("/", exchange -> {
                byte[] body = "ok\n".getBytes();
                exchange.getResponseHeaders().set("Content-Type", "text/plain");
                exchange.sendResponseHeaders(200, body.length);
                exchange.getResponseBody().write(body);
                exchange.close();
            });
            server.start();
            ports.append(' ').append(spec[0]).append('=').append(server.getAddress().getPort());
        }
        System.out.println(ports);
        System.out.flush();
    }
}
