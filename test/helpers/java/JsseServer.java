// A JSSE server (Java 17) that requires a client certificate, configured only through the standard system
// properties: javax.net.ssl.keyStore/trustStore (as Spring Boot's server.ssl.* end up), and for revocation
// com.sun.net.ssl.checkRevocation, com.sun.security.enableCRLDP and the ocsp.enable security property. This is
// the check Tomcat's JSSE connector makes without a CRL file of its own.
//   java JsseServer.java
// Prints "listening <port>" once it accepts. Then per connection one line: "accepted <client subject>" (and it
// answers "HTTP/1.1 200" with "hello <subject>"), or "refused <the handshake's failure, with its causes>".
import java.io.*;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import javax.net.ssl.*;

public class JsseServer {
    static synchronized void say(String line) {
        System.out.println(line.replace('\n', ' '));
        System.out.flush();
    }

    static String causes(Throwable e) {
        StringBuilder out = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) out.append(out.length() == 0 ? "" : " <- ").append(t);
        return out.toString();
    }

    static void serve(SSLSocket s) {
        try (s) {
            s.setSoTimeout(20_000);
            try {
                s.startHandshake();
            } catch (IOException e) {
                say("refused " + causes(e));
                return;
            }
            String subject = ((X509Certificate) s.getSession().getPeerCertificates()[0])
                .getSubjectX500Principal().getName();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
            for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
                // the request's headers: read and ignored
            }
            byte[] body = ("hello " + subject + "\n").getBytes(StandardCharsets.UTF_8);
            OutputStream out = s.getOutputStream();
            out.write(("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + body.length
                + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            say("accepted " + subject);
        } catch (IOException e) {
            say("error " + causes(e));
        }
    }

    public static void main(String[] args) throws Exception {
        SSLServerSocket server = (SSLServerSocket) SSLContext.getDefault().getServerSocketFactory()
            .createServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        server.setNeedClientAuth(true); // server.ssl.client-auth=need
        say("listening " + server.getLocalPort());
        for (;;) {
            SSLSocket s = (SSLSocket) server.accept();
            new Thread(() -> serve(s)).start();
        }
    }
}
