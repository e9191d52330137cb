// The Lucene peer of `isnad eval` (evaluation/lucene_peer.py): plain Lucene BM25 over whole documents.
//
// Usage: java -cp <classes>:<lucene jars> LucenePeer DOCS QUESTIONS DEPTH
//   DOCS       UTF-8, one document a line: "<id>\t<title>\t<body>" (tabs and line breaks inside a field
//              already replaced by spaces by the caller; they only separate tokens anyway)
//   QUESTIONS  UTF-8, one question a line
//   DEPTH      how many document ids to print per question
// Output: one line per question, the ids of its DEPTH best documents separated by tabs, best first.
//
// What a user who picks Lucene would set up: one field holding title and body, Lucene's ArabicAnalyzer
// (with the alef wasla -> alef mapping Isnad's analyzer applies first), BM25 with k1 = 1.2 and b = 0.75, and
// each question turned into a query the way Lucene's QueryBuilder (behind the classic QueryParser and
// Elasticsearch's `match` query) does: one SHOULD term clause per analyzed token, so a word repeated in the
// question counts once per occurrence.

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.AnalyzerWrapper;
import org.apache.lucene.analysis.ar.ArabicAnalyzer;
import org.apache.lucene.analysis.charfilter.MappingCharFilter;
import org.apache.lucene.analysis.charfilter.NormalizeCharMap;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.store.ByteBuffersDirectory;
import org.apache.lucene.util.QueryBuilder;

public class LucenePeer {
    static final String FIELD = "body";

    /** ArabicAnalyzer behind the one character mapping Isnad applies before analysis (alef wasla). */
    static final class WaslaArabic extends AnalyzerWrapper {
        private final Analyzer inner = new ArabicAnalyzer();
        private final NormalizeCharMap map;

        WaslaArabic() {
            super(Analyzer.PER_FIELD_REUSE_STRATEGY);
            NormalizeCharMap.Builder builder = new NormalizeCharMap.Builder();
            builder.add("\u0671", "\u0627");
            map = builder.build();
        }

        @Override
        protected Analyzer getWrappedAnalyzer(String fieldName) {
            return inner;
        }

        @Override
        protected Reader wrapReader(String fieldName, Reader reader) {
            return new MappingCharFilter(map, reader);
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 3) {
            System.err.println("usage: LucenePeer DOCS QUESTIONS DEPTH");
            System.exit(2);
        }
        int depth = Integer.parseInt(args[2]);
        Analyzer analyzer = new WaslaArabic();
        BM25Similarity similarity = new BM25Similarity(1.2f, 0.75f);
        ByteBuffersDirectory directory = new ByteBuffersDirectory();
        IndexWriterConfig config = new IndexWriterConfig(analyzer).setSimilarity(similarity);
        try (IndexWriter writer = new IndexWriter(directory, config);
             BufferedReader docs = Files.newBufferedReader(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            String line;
            while ((line = docs.readLine()) != null) {
                String[] parts = line.split("\t", 3);
                if (parts.length != 3) {
                    System.err.println("LucenePeer: malformed document line: " + line.substring(0, Math.min(80, line.length())));
                    System.exit(2);
                }
                Document doc = new Document();
                doc.add(new StoredField("id", parts[0]));
                doc.add(new TextField(FIELD, parts[1] + " " + parts[2], Field.Store.NO));
                writer.addDocument(doc);
            }
        }
        BooleanQuery.setMaxClauseCount(Math.max(BooleanQuery.getMaxClauseCount(), 4096));
        QueryBuilder builder = new QueryBuilder(analyzer);
        try (DirectoryReader reader = DirectoryReader.open(directory);
             BufferedReader questions = Files.newBufferedReader(Paths.get(args[1]), StandardCharsets.UTF_8);
             BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8))) {
            IndexSearcher searcher = new IndexSearcher(reader);
            searcher.setSimilarity(similarity);
            String line;
            while ((line = questions.readLine()) != null) {
                Query query = builder.createBooleanQuery(FIELD, line);
                StringBuilder ids = new StringBuilder();
                if (query != null) {  // null when every word is a stop word
                    for (ScoreDoc hit : searcher.search(query, depth).scoreDocs) {
                        if (ids.length() > 0) {
                            ids.append('\t');
                        }
                        ids.append(searcher.doc(hit.doc).get("id"));
                    }
                }
                out.write(ids.toString());
                out.write('\n');
            }
        }
    }
}
