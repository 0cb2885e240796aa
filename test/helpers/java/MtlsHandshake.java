// A Java 17 JSSE server and client doing a mutual-TLS exchange with the files mtls-ca writes, loaded the way
// Spring Boot/Tomcat load them (server.ssl.key-store / trust-store):
//   java MtlsHandshake <keyStore.p12> <ksPassFile> <trustStore> <tsType> <tsPassFile> <client.p12> <clientPassFile> …
// One exchange for each group of seven arguments, each with its own key and trust stores and SSL contexts, so
// one JVM checks several CA directories. For each it prints "OK server-saw=<client subject> client-saw=<server
// subject> reply=pong protocol=<TLS version>" or "FAIL <error>"; the exit code is 1 when one failed.
import java.io.*;
import java.nio.file.*;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import javax.net.ssl.*;

public class MtlsHandshake {
    static char[] pass(String file) throws IOException {
        return Files.readAllLines(Path.of(file)).get(0).toCharArray();
    }

    static KeyStore load(String file, String type, char[] password) throws Exception {
        KeyStore ks = KeyStore.getInstance(type);
        try (InputStream in = new FileInputStream(file)) { ks.load(in, password); }
        return ks;
    }

    static SSLContext context(KeyStore keys, char[] keyPass, KeyStore trust) throws Exception {
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, keyPass);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ctx;
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || args.length % 7 != 0) {
            System.err.println("usage: MtlsHandshake (<keyStore.p12> <ksPassFile> <trustStore> <tsType> <tsPassFile> <client.p12> <clientPassFile>)…");
            System.exit(2);
        }
        boolean failed = false;
        for (int i = 0; i < args.length; i += 7) {
            try {
                System.out.println(exchange(java.util.Arrays.copyOfRange(args, i, i + 7)));
            } catch (Exception e) {
                System.out.println("FAIL " + e);
                failed = true;
            }
        }
        System.exit(failed ? 1 : 0);
    }

    static String exchange(String[] a) throws Exception {
        char[] ksPass = pass(a[1]);
        char[] tsPass = pass(a[4]);
        char[] clientPass = pass(a[6]);
        KeyStore trust = load(a[2], a[3], tsPass);
        SSLContext serverCtx = context(load(a[0], "PKCS12", ksPass), ksPass, trust);
        SSLContext clientCtx = context(load(a[5], "PKCS12", clientPass), clientPass, trust);

        SSLServerSocket server = (SSLServerSocket) serverCtx.getServerSocketFactory()
            .createServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"));
        server.setNeedClientAuth(true); // server.ssl.client-auth=need
        final String[] seen = new String[1];
        final Exception[] serverError = new Exception[1];
        Thread t = new Thread(() -> {
            try (SSLSocket s = (SSLSocket) server.accept()) {
                s.startHandshake();
                X509Certificate peer = (X509Certificate) s.getSession().getPeerCertificates()[0];
                seen[0] = peer.getSubjectX500Principal().getName();
                BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream()));
                r.readLine();
                s.getOutputStream().write("pong\n".getBytes());
                s.getOutputStream().flush();
            } catch (Exception e) { serverError[0] = e; }
        });
        t.start();
        try (SSLSocket c = (SSLSocket) clientCtx.getSocketFactory().createSocket("127.0.0.1", server.getLocalPort())) {
            SSLParameters p = c.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS"); // check the server's IP SAN like an HTTPS client
            c.setSSLParameters(p);
            c.startHandshake();
            String serverSubject = ((X509Certificate) c.getSession().getPeerCertificates()[0]).getSubjectX500Principal().getName();
            c.getOutputStream().write("ping\n".getBytes());
            c.getOutputStream().flush();
            String reply = new BufferedReader(new InputStreamReader(c.getInputStream())).readLine();
            t.join(10_000);
            if (serverError[0] != null) throw serverError[0];
            return "OK server-saw=" + seen[0] + " client-saw=" + serverSubject + " reply=" + reply
                + " protocol=" + c.getSession().getProtocol();
        } finally {
            server.close();
        }
    }
}
