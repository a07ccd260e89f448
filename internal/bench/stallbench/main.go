// Command stallbench measures what stalled request bodies cost a running
// server (issue 11 item 6): it opens -conns connections that each announce
// a 1000-byte body (with a bad token, or -token) and send one byte, then reports how
// many the server still holds open, and (with -pid, on Linux) how many
// descriptors the server has, right after they are opened and after -wait.
//
//	agentops serve --data-dir "$(mktemp -d)" --listen 127.0.0.1:18920 &
//	go run ./internal/bench/stallbench -url http://127.0.0.1:18920 -pid $! -conns 3000
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8787", "the server")
	conns := flag.Int("conns", 1000, "stalled connections to open")
	wait := flag.Duration("wait", 15*time.Second, "how long to wait before counting again")
	pid := flag.Int("pid", 0, "the server's pid, to count its descriptors (Linux)")
	token := flag.String("token", "bad", "the bearer token the requests carry (a valid one gets past authentication)")
	flag.Parse()
	addr := strings.TrimPrefix(strings.TrimPrefix(*url, "http://"), "https://")

	fds := func() string {
		if *pid == 0 {
			return "-"
		}
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", *pid))
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(len(ents))
	}
	fmt.Printf("server descriptors before: %s\n", fds())
	var open atomic.Int64
	var cs []net.Conn
	start := time.Now()
	for i := 0; i < *conns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dial %d: %v\n", i, err)
			break
		}
		_, _ = io.WriteString(c, "POST /api/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+*token+"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		open.Add(1)
		cs = append(cs, c)
		go func(c net.Conn) {
			_, _ = io.Copy(io.Discard, c) // returns when the server closes
			open.Add(-1)
		}(c)
	}
	time.Sleep(time.Second)
	fmt.Printf("opened %d stalled connections in %v; after 1 s the server holds %d open, %s descriptors\n",
		len(cs), time.Since(start).Round(time.Millisecond), open.Load(), fds())
	time.Sleep(*wait)
	fmt.Printf("after %v more: the server holds %d open, %s descriptors\n", *wait, open.Load(), fds())
	for _, c := range cs {
		c.Close()
	}
}
