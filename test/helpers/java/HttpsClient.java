// A JSSE client for the mTLS server, run as a single-file program: `java HttpsClient.java <url>`.
// Key and trust material come only from the standard system properties (javax.net.ssl.keyStore,
// keyStorePassword, keyStoreType, trustStore, trustStorePassword, trustStoreType), exactly as a Spring Boot
// or plain Java client of the tutorial would be configured. Prints the HTTP status, a newline, the body.
// Exit codes: 0 an HTTP answer arrived (any status), 2 usage, 3 TLS or I/O failure (message on stderr).
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.HttpsURLConnection;

public class HttpsClient {
  public static void main(String[] args) {
    if (args.length != 1) {
      System.err.println("usage: java HttpsClient.java <https-url>");
      System.exit(2);
    }
    try {
      HttpsURLConnection conn = (HttpsURLConnection) URI.create(args[0]).toURL().openConnection();
      conn.setConnectTimeout(10_000);
      conn.setReadTimeout(10_000);
      // HttpURLConnection's default Accept ("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2") prefers
      // HTML, so the server would answer errors with its browser page; an API client asks for JSON.
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
