package importer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentops/agentops/app/importer"
	fx "github.com/agentops/agentops/app/importer/importertest"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// BenchmarkImportUpstream imports a generated dump: the fixture plus
// 500 sessions of 40 messages (every other one with a tool call) and
// 2,000 memory files, into a fresh database of each dialect.
//
//	go run -tags sqlite_fts5 ./internal/testutil/testenv -- go test -tags sqlite_fts5 -run '^$' -bench ImportUpstream -benchtime 1x ./app/importer/
func BenchmarkImportUpstream(b *testing.B) {
	const sessions, perSession, memories = 500, 40, 2000
	var sb strings.Builder
	sb.WriteString(fx.Rows("title"))
	for s := 0; s < sessions; s++ {
		sid := fmt.Sprintf("00000000-0000-4000-8000-%012d", s)
		fmt.Fprintf(&sb, "INSERT INTO sessions VALUES ('%s','u-alice','acme/api','terminated','Session %d','interactive',NULL,NULL,60,'2026-02-01 09:00:00','2026-02-01 09:30:00');\n", sid, s)
		for m := 0; m < perSession; m++ {
			role, parts := "user", "NULL"
			if m%2 == 1 {
				role = "assistant"
				parts = `'[{"type":"text","text":"Done."},{"type":"tool-call","callId":"c","toolName":"bash","status":"completed","args":{"cmd":"go test ./..."},"result":"ok  \tgithub.com/acme/api\t0.41s"}]'`
			}
			fmt.Fprintf(&sb, "INSERT INTO messages VALUES ('m-%d-%d','%s','%s','Message %d of session %d: run the tests and tell me what fails',%s,NULL,NULL,NULL,'2026-02-01 09:00:01',%d);\n",
				s, m, sid, role, m, s, parts, 1769936401+m)
		}
	}
	for i := 0; i < memories; i++ {
		fmt.Fprintf(&sb, "INSERT INTO orchestrator_memory_files VALUES ('mem-b-%d','u-bob','default','notes/n%d.md','Note %d','Note %d about the deployment pipeline and its flaky step number %d',1.0,0,1,'2026-01-05 10:00:00','2026-01-05 10:00:00','2026-01-05 10:00:00');\n", i, i, i, i, i)
	}
	dir := b.TempDir()
	dump := filepath.Join(dir, "export.sql")
	if err := os.WriteFile(dump, []byte(fx.DDL+sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(dump)
	rows := sessions*(1+perSession) + memories
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st := storetest.Open(b, d)
				e := newEnvTB(b, st)
				b.StartTimer()
				rep, err := importer.Run(b.Context(), importer.Deps{Store: st, Keyring: e.kr, LoginLink: e.auth.CreateLoginLink, Blob: e.blob},
					importer.Options{Source: dump, UpstreamKey: fx.Key, ScratchDir: dir})
				if err != nil {
					b.Fatal(err)
				}
				if !strings.Contains(line(rep, "messages"), fmt.Sprintf("%d to import", sessions*perSession+3)) {
					b.Fatalf("messages: %s", line(rep, "messages"))
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(fi.Size())/1e6, "dump_MB")
		})
	}
	_ = store.SQLite
}
