// Command agentbench measures a turn of each real agent CLI against the
// scripted model server (internal/testutil/fakemodel): the time from the
// prompt to the first streamed text and to the end of the turn, once
// through agentops' adapter (what the runner runs) and once with the same
// CLI run by hand with the same flags and environment, so the difference
// is agentops' overhead. It also samples the CLI's resident memory during
// the turns, and reports this process's (which holds the adapter, as a
// runner does).
//
//	go run -tags sqlite_fts5 ./internal/bench/agentbench -runs 5
//	go run -tags sqlite_fts5 ./internal/bench/agentbench -server -runs 5
//
// The CLIs are installed (once) into $AGENTOPS_TEST_AGENTS_CACHE, default
// /var/cache/agentops-test/agents, as the tests do.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/agenttest"
	"github.com/agentops/agentops/app/runner/agent/claudecode"
	"github.com/agentops/agentops/app/runner/agent/codex"
	"github.com/agentops/agentops/internal/testutil/fakemodel"
)

func main() {
	runs := flag.Int("runs", 5, "turns per agent and mode")
	server := flag.Bool("server", false, "measure through the whole server instead: REST prompt, session actor, a real `agentops runner` child (built from this checkout) and each CLI; with the runner's RSS beside the CLI's")
	flag.Parse()
	testing.Init()
	model := fakemodel.Start()
	defer model.Close()
	if *server {
		if err := throughServer(*runs, model); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	fmt.Printf("load average at start: %s\n", loadavg())
	fmt.Println("| agent | mode | first text p50 | end of turn p50 | end of turn max | CLI RSS max |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, info := range []agent.Info{claudecode.Info, codex.Info} {
		bin := install(info)
		for _, mode := range []string{"by hand", "agentops"} {
			var first, end []time.Duration
			var rss int64
			for i := range *runs {
				f, e, r, err := turn(info, bin, mode, model, i)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s %s: %v\n", info.ID, mode, err)
					os.Exit(1)
				}
				first, end, rss = append(first, f), append(end, e), max(rss, r)
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %d MB |\n", info.ID, mode, p50(first), p50(end), slices.Max(end).Round(time.Millisecond), rss>>20)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("this process (adapter + fake model): RSS %d MB\n", selfRSS()>>20)
}

func install(info agent.Info) string {
	var path string
	t := &testing.T{}
	done := make(chan struct{})
	go func() { defer close(done); path = agenttest.CLI(t, info) }()
	<-done
	if path == "" {
		fmt.Fprintf(os.Stderr, "cannot install %s\n", info.ID)
		os.Exit(1)
	}
	return path
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

// turn runs one prompt that streams "ok" and returns the time to the
// first text, to the end, and the CLI's largest RSS seen.
func turn(info agent.Info, bin, mode string, model *fakemodel.Server, i int) (first, end time.Duration, rss int64, err error) {
	ws, _ := os.MkdirTemp("", "agentbench-ws-")
	state, _ := os.MkdirTemp("", "agentbench-state-")
	defer os.RemoveAll(ws)
	defer os.RemoveAll(state)
	env := map[string]string{"PATH": os.Getenv("PATH"), "ANTHROPIC_BASE_URL": model.URL, "ANTHROPIC_API_KEY": "sk-fake",
		"OPENAI_BASE_URL": model.URL + "/v1", "OPENAI_API_KEY": "sk-fake"}
	prompt := fmt.Sprintf("hello %d", i)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if mode == "agentops" {
		return viaAdapter(ctx, info, bin, ws, state, env, prompt)
	}
	return byHand(ctx, info, bin, ws, state, env, prompt, model)
}

// rec is a Turn that notes the first text.
type rec struct {
	agenttest.Recorder
	start time.Time
	once  sync.Once
	first time.Duration
}

func (r *rec) Text(d string) error {
	r.once.Do(func() { r.first = time.Since(r.start) })
	return r.Recorder.Text(d)
}

func viaAdapter(ctx context.Context, info agent.Info, bin, ws, state string, env map[string]string, prompt string) (time.Duration, time.Duration, int64, error) {
	opts := agent.Options{Workspace: ws, StateDir: state, Bin: bin, AllowRoot: true, Getenv: func(k string) string { return env[k] }}
	var a agent.Agent
	var err error
	switch info.ID {
	case claudecode.Info.ID:
		a, err = claudecode.New(opts)
	default:
		a, err = codex.New(opts)
	}
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = a.(interface{ Close() error }).Close() }()
	r := &rec{Recorder: *agenttest.NewRecorder(), start: time.Now()}
	stop := sampleRSS(filepath.Base(bin))
	err = a.Run(ctx, agent.Prompt{MessageID: "m", Content: prompt, Workspace: ws}, r)
	end := time.Since(r.start)
	peak := stop()
	if err != nil {
		return 0, 0, 0, err
	}
	if !strings.Contains(r.FinalText(), "ok") {
		return 0, 0, 0, fmt.Errorf("reply %q", r.FinalText())
	}
	return r.first, end, peak, nil
}

// byHand runs the CLI with the flags and environment the adapter uses and
// reads its JSON lines itself.
func byHand(ctx context.Context, info agent.Info, bin, ws, state string, env map[string]string, prompt string, model *fakemodel.Server) (time.Duration, time.Duration, int64, error) {
	base := []string{"HOME=" + filepath.Join(state, "home"), "XDG_CONFIG_HOME=" + filepath.Join(state, "config"),
		"XDG_DATA_HOME=" + filepath.Join(state, "data"), "XDG_CACHE_HOME=" + filepath.Join(state, "cache"),
		"XDG_STATE_HOME=" + filepath.Join(state, "state"), "PATH=" + env["PATH"]}
	var cmd *exec.Cmd
	switch info.ID {
	case claudecode.Info.ID:
		cmd = exec.CommandContext(ctx, bin, "-p", prompt, "--output-format", "stream-json", "--verbose", "--include-partial-messages",
			"--model", "claude-sonnet-4-5", "--permission-mode", "bypassPermissions")
		cmd.Env = append(base, "ANTHROPIC_BASE_URL="+env["ANTHROPIC_BASE_URL"], "ANTHROPIC_API_KEY=sk-fake", "IS_SANDBOX=1",
			"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_AUTOUPDATER=1", "DISABLE_TELEMETRY=1", "DISABLE_ERROR_REPORTING=1")
	default:
		home := filepath.Join(state, "codex")
		_ = os.MkdirAll(home, 0o700)
		cfg := "model = \"gpt-5-codex\"\nmodel_provider = \"fake\"\ncheck_for_update_on_startup = false\n[analytics]\nenabled = false\n" +
			"[model_providers.fake]\nname = \"fake\"\nbase_url = " + strconv.Quote(env["OPENAI_BASE_URL"]) + "\nenv_key = \"OPENAI_API_KEY\"\nwire_api = \"responses\"\n"
		_ = os.WriteFile(filepath.Join(home, "config.toml"), []byte(cfg), 0o600)
		cmd = exec.CommandContext(ctx, bin, "exec", "--json", "--skip-git-repo-check", "-s", "danger-full-access", prompt)
		cmd.Env = append(base, "CODEX_HOME="+home, "OPENAI_API_KEY=sk-fake")
	}
	for _, d := range []string{"home", "config", "data", "cache", "state"} {
		_ = os.MkdirAll(filepath.Join(state, d), 0o700)
	}
	cmd.Dir = ws
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	stop := sampleRSS(filepath.Base(bin))
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	var first time.Duration
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if first == 0 && hasText(sc.Bytes()) {
			first = time.Since(start)
		}
	}
	err = cmd.Wait()
	end := time.Since(start)
	peak := stop()
	_ = model
	return first, end, peak, err
}

// hasText reports a line carrying reply text: Claude's text_delta, Codex's
// agent_message.
func hasText(line []byte) bool {
	var l struct {
		Type  string `json:"type"`
		Event struct {
			Delta struct {
				Type string `json:"type"`
			} `json:"delta"`
		} `json:"event"`
		Item struct {
			Type string `json:"type"`
		} `json:"item"`
	}
	if json.Unmarshal(line, &l) != nil {
		return false
	}
	return l.Type == "stream_event" && l.Event.Delta.Type == "text_delta" || l.Type == "item.completed" && l.Item.Type == "agent_message"
}

// sampleRSS samples the summed RSS of processes whose command name starts
// with name until stop is called; stop returns the peak.
func sampleRSS(name string) (stop func() int64) {
	done := make(chan struct{})
	var peak int64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, rssOf(name))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() int64 { close(done); wg.Wait(); return peak }
}

func rssOf(name string) int64 {
	entries, _ := os.ReadDir("/proc")
	var sum int64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if !strings.HasPrefix(strings.TrimSpace(string(comm)), strings.TrimSuffix(name, ".exe")) {
			continue
		}
		sum += statusRSS(e.Name())
	}
	return sum
}

func statusRSS(pid string) int64 {
	data, _ := os.ReadFile(filepath.Join("/proc", pid, "status"))
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func selfRSS() int64 { return statusRSS(strconv.Itoa(os.Getpid())) }

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

var _ = protocol.Usage{}
