// Parses Java sources with javac's own parser, without compiling them: `java … ParseJava A.java B.java`.
// For code whose libraries are not here (Spring): it catches syntax errors, not a wrong name. Prints each
// syntax error as file:line: message; exit 1 when there is one.
import com.sun.source.util.JavacTask;
import java.io.File;
import java.util.Arrays;
import java.util.List;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

public class ParseJava {
  public static void main(String[] args) throws Exception {
    var compiler = ToolProvider.getSystemJavaCompiler();
    var diagnostics = new DiagnosticCollector<JavaFileObject>();
    try (StandardJavaFileManager files = compiler.getStandardFileManager(diagnostics, null, null)) {
      var units = files.getJavaFileObjectsFromFiles(Arrays.stream(args).map(File::new).toList());
      JavacTask task = (JavacTask) compiler.getTask(null, files, diagnostics, List.of("-proc:none"), null, units);
      int parsed = 0;
      for (var unit : task.parse()) parsed++;
      var errors = diagnostics.getDiagnostics().stream()
          .filter(d -> d.getKind() == javax.tools.Diagnostic.Kind.ERROR).toList();
      for (var d : errors) {
        System.out.println(d.getSource().getName() + ":" + d.getLineNumber() + ": " + d.getMessage(null));
      }
      System.out.println("parsed " + parsed);
      if (!errors.isEmpty()) System.exit(1);
    }
  }
}
