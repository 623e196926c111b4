/*
 * Times the DCC signing tool's own Sign and Validate logic in a warm JVM.
 *
 * Compiled at bench time against tool.jar (never committed); calls the same
 * entry points the command line uses (Sign.main_aux / Validate.main_aux),
 * with stdout and stderr sent to a null stream while timing.
 *
 * usage: java -cp tool.jar:. ToolBench UNSIGNED.xml SIGNED.xml WARMUP
 * Warms up, prints "ready", then reads one number N per line on stdin and
 * answers each with one round of N Sign + Validate pairs, timed one by one:
 *   sign_us=<median> validate_us=<median> total_us=<median of Sign + Validate>
 * so that the caller can interleave rounds of its own with the tool's.
 */

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import uk.co.smartdcc.boxed.xmldsig.Sign;
import uk.co.smartdcc.boxed.xmldsig.Validate;

public final class ToolBench {
  private ToolBench() {
  }

  private static double medianMicros(long[] nanos) {
    long[] sorted = nanos.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    double middle = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    return middle / 1000.0;
  }

  private static void check(Object result, String what) {
    String text = String.valueOf(result);
    if (!text.equals("SUCCESS") && !text.equals("0")) {
      throw new IllegalStateException(what + " failed: " + text);
    }
  }

  public static void main(String[] args) throws IOException {
    String[] signArgs = {args[0], "--preserveCounter"};
    String[] validateArgs = {args[1]};
    int warmup = Integer.parseInt(args[2]);
    PrintStream out = System.out;
    PrintStream sink = new PrintStream(OutputStream.nullOutputStream());
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    System.setOut(sink);
    System.setErr(sink);
    for (int i = 0; i < warmup; i++) {
      check(Sign.main_aux(signArgs), "Sign");
      check(Validate.main_aux(validateArgs), "Validate");
    }
    out.println("ready");
    out.flush();
    String line;
    while ((line = in.readLine()) != null) {
      int n = Integer.parseInt(line.trim());
      long[] sign = new long[n];
      long[] validate = new long[n];
      long[] total = new long[n];
      for (int i = 0; i < n; i++) {
        long start = System.nanoTime();
        check(Sign.main_aux(signArgs), "Sign");
        long middle = System.nanoTime();
        check(Validate.main_aux(validateArgs), "Validate");
        long end = System.nanoTime();
        sign[i] = middle - start;
        validate[i] = end - middle;
        total[i] = end - start;
      }
      out.printf("sign_us=%.1f validate_us=%.1f total_us=%.1f%n", medianMicros(sign),
          medianMicros(validate), medianMicros(total));
      out.flush();
    }
  }
}
