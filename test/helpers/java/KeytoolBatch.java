// Runs many keytool command lines in one JVM: a JVM start costs about a second of CPU, a keytool command
// after the first a few milliseconds. Each line of stdin is one command, its arguments separated by tabs; each
// is run by keytool's own entry point, sun.security.tools.keytool.Main (what the `keytool` launcher runs; its
// state is all per run), with System.out and System.err captured. For each command one line is printed:
//   <exit code> TAB <stdout, base64> TAB <stderr, base64>
// keytool ends a failed command with System.exit(1). Where a SecurityManager can still be set (Java 17), one
// that refuses that exit prints the command's line at the moment of the exit, with what it had printed until
// then (what the keytool process would have printed: its cleanup after the exit call is not captured), and
// the batch goes on. Where it cannot (Java 18 and later refuse it), the exit ends the JVM: a shutdown hook
// prints that command's line, and the caller starts a new batch with the commands after it.
// Needs --add-exports java.base/sun.security.tools.keytool=ALL-UNNAMED.
import java.io.*;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.security.Permission;
import java.util.Base64;

public class KeytoolBatch {
    static final PrintStream realOut = System.out;
    static ByteArrayOutputStream out;
    static ByteArrayOutputStream err;

    static synchronized void report(int status) {
        if (out == null) return;
        Base64.Encoder b64 = Base64.getEncoder();
        realOut.println(status + "\t" + b64.encodeToString(out.toByteArray()) + "\t" + b64.encodeToString(err.toByteArray()));
        realOut.flush();
        out = null;
        err = null;
    }

    /** What a refused System.exit throws: the command ended with `status`, already reported. */
    static final class Exited extends SecurityException {
        Exited(int status) {
            super("System.exit(" + status + ")");
        }
    }

    @SuppressWarnings("removal")
    static void trapExits() {
        try {
            System.setSecurityManager(new SecurityManager() {
                @Override
                public void checkPermission(Permission p) {}

                @Override
                public void checkPermission(Permission p, Object context) {}

                @Override
                public void checkExit(int status) {
                    report(status);
                    throw new Exited(status);
                }
            });
        } catch (UnsupportedOperationException e) {
            // no SecurityManager in this Java: each failure ends the JVM (see above)
        }
    }

    public static void main(String[] a) throws Exception {
        Method keytool = Class.forName("sun.security.tools.keytool.Main").getMethod("main", String[].class);
        PrintStream realErr = System.err;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> report(1)));
        trapExits();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        // A command that asks a question reads an empty stdin, as a keytool without a terminal would, not the batch.
        System.setIn(new ByteArrayInputStream(new byte[0]));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.isEmpty()) continue;
            synchronized (KeytoolBatch.class) {
                out = new ByteArrayOutputStream();
                err = new ByteArrayOutputStream();
                System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
                System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            }
            int status = 0;
            try {
                keytool.invoke(null, (Object) line.split("\t", -1));
            } catch (InvocationTargetException e) {
                // keytool itself catches what a command throws; anything else here escaped it.
                if (!(e.getCause() instanceof Exited)) {
                    e.getCause().printStackTrace(System.err);
                    status = 70;
                }
            } finally {
                System.setOut(realOut);
                System.setErr(realErr);
            }
            report(status);
        }
    }
}
