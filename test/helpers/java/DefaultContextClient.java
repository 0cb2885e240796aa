// java.net.http.HttpClient with the JVM's default SSLContext, configured only by the javax.net.ssl.* system
// properties (a JVM-flags snippet, or a trust store mtls-ca changed): `java … DefaultContextClient <url>`.
// Prints the body; exit 1 for a status other than 200, 3 for a TLS or I/O failure (message on stderr).
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class DefaultContextClient {
  public static void main(String[] args) throws InterruptedException {
    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    HttpRequest request = HttpRequest.newBuilder(URI.create(args[0])).header("Accept", "application/json").build();
    try {
      HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
      System.out.println(response.body());
      if (response.statusCode() != 200) System.exit(1);
    } catch (IOException e) {
      System.err.println(e.getClass().getName() + ": " + e.getMessage());
      System.exit(3);
    }
  }
}
