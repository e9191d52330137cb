// Prints Lucene's tokens for every line of stdin, for the parity test in tests/test_lucene_parity.py.
//
// Input: UTF-8 text, lines separated by '\n' only (so '\r' and other separators stay inside a line,
// exactly as the Python side sees them). Output: for each input line, two lines:
//   "A" + tokens of Lucene's ArabicAnalyzer
//   "E" + tokens of StandardTokenizer + LowerCaseFilter + DecimalDigitFilter + ArabicNormalizationFilter
// Each token is "\u0001term\u0002start\u0002end\u0002position", with offsets counted in code points
// (Python's string indexing) rather than Java's UTF-16 units.
// Alef wasla (U+0671) is mapped to alef (U+0627) before analysis, as Isnad's character filter does;
// the mapping is one character to one character in the BMP, so offsets are unchanged.

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.ar.ArabicAnalyzer;
import org.apache.lucene.analysis.ar.ArabicNormalizationFilter;
import org.apache.lucene.analysis.core.DecimalDigitFilter;
import org.apache.lucene.analysis.LowerCaseFilter;
import org.apache.lucene.analysis.standard.StandardTokenizer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.analysis.tokenattributes.OffsetAttribute;
import org.apache.lucene.analysis.tokenattributes.PositionIncrementAttribute;

public class LuceneTokens {
    static final class ExactAnalyzer extends Analyzer {
        @Override
        protected TokenStreamComponents createComponents(String fieldName) {
            Tokenizer source = new StandardTokenizer();
            TokenStream result = new LowerCaseFilter(source);
            result = new DecimalDigitFilter(result);
            result = new ArabicNormalizationFilter(result);
            return new TokenStreamComponents(source, result);
        }
    }

    static void emit(Analyzer analyzer, String line, StringBuilder out) throws IOException {
        try (TokenStream stream = analyzer.tokenStream("f", new StringReader(line))) {
            CharTermAttribute term = stream.addAttribute(CharTermAttribute.class);
            OffsetAttribute offset = stream.addAttribute(OffsetAttribute.class);
            PositionIncrementAttribute inc = stream.addAttribute(PositionIncrementAttribute.class);
            stream.reset();
            int position = -1;
            while (stream.incrementToken()) {
                position += inc.getPositionIncrement();
                out.append('\u0001').append(term.toString())
                   .append('\u0002').append(line.codePointCount(0, offset.startOffset()))
                   .append('\u0002').append(line.codePointCount(0, offset.endOffset()))
                   .append('\u0002').append(position);
            }
            stream.end();
        }
    }

    public static void main(String[] args) throws IOException {
        String input = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        PrintStream out = new PrintStream(new BufferedOutputStream(System.out, 1 << 16), false, "UTF-8");
        Analyzer arabic = new ArabicAnalyzer();
        Analyzer exact = new ExactAnalyzer();
        String[] lines = input.split("\n", -1);
        int count = input.endsWith("\n") ? lines.length - 1 : lines.length;
        StringBuilder buffer = new StringBuilder();
        for (int i = 0; i < count; i++) {
            String line = lines[i].replace('\u0671', '\u0627');
            buffer.setLength(0);
            buffer.append('A');
            emit(arabic, line, buffer);
            buffer.append('\n').append('E');
            emit(exact, line, buffer);
            buffer.append('\n');
            out.print(buffer);
        }
        out.flush();
    }
}
