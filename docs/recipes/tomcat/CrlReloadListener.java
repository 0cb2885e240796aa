// Tomcat reads the CRL file of its TLS connector (SSLHostConfig certificateRevocationListFile) when the
// connector starts, and never again: a client revoked after that is still accepted. This listener watches the
// CRL files of every HTTPS connector and reloads the connector's TLS configuration when one changes, so that
// `mtls-ca revoke` reaches Tomcat within a few seconds. New handshakes get the new CRL; open connections keep
// theirs until they close.
//
// Standalone Tomcat: compile against Tomcat's jars into $CATALINA_BASE/lib and add to server.xml
//   javac -cp "$CATALINA_HOME/lib/*" -d "$CATALINA_BASE/lib" CrlReloadListener.java
//   <Server ...><Listener className="mtlsca.tomcat.CrlReloadListener" intervalMs="2000"/> ...
// Spring Boot (embedded Tomcat): call CrlReloadListener.watch(protocol, 2000) from a TomcatConnectorCustomizer
// after setting the CRL file on the connector's SSLHostConfig (see the README).
package mtlsca.tomcat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.apache.catalina.Lifecycle;
import org.apache.catalina.LifecycleEvent;
import org.apache.catalina.LifecycleListener;
import org.apache.catalina.Server;
import org.apache.catalina.Service;
import org.apache.catalina.connector.Connector;
import org.apache.coyote.http11.AbstractHttp11Protocol;
import org.apache.tomcat.util.net.SSLHostConfig;

public class CrlReloadListener implements LifecycleListener {
    private static final Logger log = Logger.getLogger(CrlReloadListener.class.getName());

    private long intervalMs = 2000;

    /** How often the CRL files are looked at (server.xml attribute intervalMs). */
    public void setIntervalMs(long intervalMs) {
        this.intervalMs = intervalMs;
    }

    @Override
    public void lifecycleEvent(LifecycleEvent event) {
        if (!Lifecycle.AFTER_START_EVENT.equals(event.getType()) || !(event.getLifecycle() instanceof Server)) return;
        for (Service service : ((Server) event.getLifecycle()).findServices()) {
            for (Connector connector : service.findConnectors()) {
                if (connector.getProtocolHandler() instanceof AbstractHttp11Protocol) {
                    watch((AbstractHttp11Protocol<?>) connector.getProtocolHandler(), intervalMs);
                }
            }
        }
    }

    /**
     * Reloads the TLS configuration of {@code protocol} whenever the CRL file of one of its SSLHostConfigs is
     * replaced, from a daemon thread that looks every {@code intervalMs}.
     */
    public static void watch(AbstractHttp11Protocol<?> protocol, long intervalMs) {
        Thread thread = new Thread(() -> {
            Map<String, String> seen = versions(protocol);
            for (;;) {
                try {
                    Thread.sleep(intervalMs);
                } catch (InterruptedException e) {
                    return;
                }
                Map<String, String> now = versions(protocol);
                if (now.equals(seen)) continue;
                seen = now;
                try {
                    protocol.reloadSslHostConfigs();
                    log.info("CRL changed: reloaded the TLS configuration of " + protocol.getName() + " " + now.keySet());
                } catch (RuntimeException e) {
                    log.log(Level.SEVERE, "CRL changed, but reloading the TLS configuration failed", e);
                }
            }
        }, "crl-reload-" + protocol.getName());
        thread.setDaemon(true);
        thread.start();
    }

    /** Each CRL file with its identity (the file is replaced by rename: a new inode) and modification time. */
    private static Map<String, String> versions(AbstractHttp11Protocol<?> protocol) {
        Map<String, String> out = new HashMap<>();
        for (SSLHostConfig host : protocol.findSslHostConfigs()) {
            String file = host.getCertificateRevocationListFile();
            if (file == null) continue;
            Path path = Path.of(System.getProperty("catalina.base", ".")).resolve(file);
            try {
                BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class);
                out.put(file, a.fileKey() + ":" + a.lastModifiedTime().toMillis() + ":" + a.size());
            } catch (IOException e) {
                out.put(file, "missing");
            }
        }
        return out;
    }
}
