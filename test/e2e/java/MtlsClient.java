// A plain JSSE client of `mtls-ca serve`, run as a single-file program (Java 11+): `java MtlsClient.java <url>`.
// Trust and key material come only from the standard javax.net.ssl.* system properties — trustStore,
// trustStorePassword, trustStoreType, keyStore, keyStorePassword, keyStoreType — the way a Spring Boot or any
// other Java client of the tutorial is configured, so the test proves the files mtls-ca wrote, not this code.
// Hostname verification stays on: the server certificate must name the host in the URL.
// Prints the HTTP status, a newline, the body. Exit codes: 0 an HTTP answer arrived (any status), 2 usage,
// 3 TLS or I/O failure (exception class and message on stderr).
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.HttpsURLConnection;

public class MtlsClient {
  public static void main(String[] args) {
    if (args.length != 1) {
      System.err.println("usage: java MtlsClient.java <https-url>");
      System.exit(2);
    }
    try {
      HttpsURLConnection conn = (HttpsURLConnection) URI.create(args[0]).toURL().openConnection();
      conn.setConnectTimeout(10_000);
      conn.setReadTimeout(10_000);
      // HttpURLConnection's default Accept prefers text/html, for which the server renders its browser page.
      conn.setRequestProperty("Accept", "application/json");
      int status = conn.getResponseCode();
      InputStream in = status >= 400 ? conn.getErrorStream() : conn.getInputStream();
      String body = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
      System.out.println(status);
      System.out.print(body);
      System.out.flush();
    } catch (IOException e) {
      System.err.println(e.getClass().getName() + ": " + e.getMessage());
      System.exit(3);
    }
  }
}
