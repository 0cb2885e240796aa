// A JSSE client for the mTLS server: a GET by HttpsURLConnection that prints the HTTP status, a newline, the
// body. Exit codes: 0 an HTTP answer arrived (any status), 2 usage, 3 TLS or I/O failure (message on stderr).
//
//   java HttpsClient <url>
// Key and trust material come only from the standard system properties (javax.net.ssl.keyStore,
// keyStorePassword, keyStoreType, trustStore, trustStorePassword, trustStoreType), exactly as a Spring Boot
// or plain Java client of the tutorial would be configured: the default SSLContext.
//
//   java HttpsClient --batch
// Many GETs in one JVM (a JVM start costs about a second of CPU, a GET after the first a few milliseconds).
// Each line of stdin is one case: the URL, then TAB-separated name=value javax.net.ssl.* settings without
// their prefix, or the single word "default" for the default SSLContext of this JVM's system properties. A
// case with settings gets an SSLContext of its own, built from them as JSSE builds its default one (the key
// store and trust store of the given or default type, the default KeyManagerFactory and TrustManagerFactory
// algorithms), so each case sees only its own stores. For each case one line is printed:
//   <exit code> TAB <stdout, base64> TAB <stderr, base64>
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;

public class HttpsClient {
  public static void main(String[] args) throws IOException {
    if (args.length == 1 && args[0].equals("--batch")) {
      batch();
      return;
    }
    if (args.length != 1) {
      System.err.println("usage: java HttpsClient <https-url> | java HttpsClient --batch");
      System.exit(2);
    }
    System.exit(get(args[0], null, System.out, System.err));
  }

  /** One GET of `url`, through `factory` (null: the default SSLContext); returns the exit code. */
  static int get(String url, SSLSocketFactory factory, PrintStream out, PrintStream err) {
    try {
      HttpsURLConnection conn = (HttpsURLConnection) URI.create(url).toURL().openConnection();
      if (factory != null) conn.setSSLSocketFactory(factory);
      conn.setConnectTimeout(10_000);
      conn.setReadTimeout(10_000);
      // HttpURLConnection's default Accept ("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2") prefers
      // HTML, so the server would answer errors with its browser page; an API client asks for JSON.
      conn.setRequestProperty("Accept", "application/json");
      int status = conn.getResponseCode();
      InputStream in = status >= 400 ? conn.getErrorStream() : conn.getInputStream();
      String body = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
      out.println(status);
      out.print(body);
      out.flush();
      return 0;
    } catch (IOException e) {
      err.println(e.getClass().getName() + ": " + e.getMessage());
      return 3;
    }
  }

  static void batch() throws IOException {
    // Each case on a connection of its own: a kept-alive connection would carry the previous case's handshake.
    System.setProperty("http.keepAlive", "false");
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    Base64.Encoder b64 = Base64.getEncoder();
    for (String line; (line = in.readLine()) != null; ) {
      if (line.isEmpty()) continue;
      String[] fields = line.split("\t", -1);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
      PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
      int status;
      try {
        SSLSocketFactory factory = null;
        if (!(fields.length == 2 && fields[1].equals("default"))) {
          Map<String, String> ssl = new HashMap<>();
          for (int i = 1; i < fields.length; i++) {
            String[] kv = fields[i].split("=", 2);
            ssl.put(kv[0], kv[1]);
          }
          factory = contextOf(ssl).getSocketFactory();
        }
        status = get(fields[0], factory, o, e);
      } catch (IOException | GeneralSecurityException x) {
        // what the default SSLContext would fail with on the same stores
        e.println(x.getClass().getName() + ": " + x.getMessage());
        status = 3;
      }
      System.out.println(status + "\t" + b64.encodeToString(out.toByteArray()) + "\t" + b64.encodeToString(err.toByteArray()));
      System.out.flush();
    }
  }

  /** An SSLContext made from javax.net.ssl.* settings (without the prefix) as JSSE makes its default one. */
  static SSLContext contextOf(Map<String, String> ssl) throws IOException, GeneralSecurityException {
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    String keyPassword = ssl.get("keyStorePassword");
    char[] kp = keyPassword == null ? null : keyPassword.toCharArray();
    kmf.init(load(ssl.get("keyStore"), ssl.get("keyStoreType"), kp), kp);
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    String trustPassword = ssl.get("trustStorePassword");
    // no trustStore: the JDK's cacerts, as the default context would use
    tmf.init(ssl.containsKey("trustStore") ? load(ssl.get("trustStore"), ssl.get("trustStoreType"), trustPassword == null ? null : trustPassword.toCharArray()) : null);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    return context;
  }

  /** The store at `file` of `type` (default: the JDK's default type), or null when there is no file. */
  static KeyStore load(String file, String type, char[] password) throws IOException, GeneralSecurityException {
    if (file == null) return null;
    KeyStore store = KeyStore.getInstance(type == null ? KeyStore.getDefaultType() : type);
    try (InputStream in = new FileInputStream(file)) {
      store.load(in, password);
    }
    return store;
  }
}
