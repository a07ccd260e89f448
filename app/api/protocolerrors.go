package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// JSONProtocolErrors wraps a listener so that the errors net/http answers
// itself, before any handler runs (a 431 for headers past MaxHeaderBytes, a
// 400 for a malformed request, a 501 for an unknown transfer encoding),
// come in the one JSON error body instead of plain text. net/http offers
// no hook for them: it writes each with one Fprintf straight to the
// connection, in a shape no handler's response has (Content-Type before
// Connection; handlers' headers are written sorted, with a Date), which
// is what this looks for.
func JSONProtocolErrors(ln net.Listener) net.Listener { return jsonErrListener{ln} }

type jsonErrListener struct{ net.Listener }

func (l jsonErrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrConn{Conn: c}, nil
}

type jsonErrConn struct{ net.Conn }

// plainErrorHeaders is what net/http puts between the status line and the
// text of its own error responses (net/http/server.go, conn.serve).
var plainErrorHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

func (c *jsonErrConn) Write(p []byte) (int, error) {
	if b, ok := jsonProtocolError(p); ok {
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// ReadFrom keeps the connection's own ReadFrom (sendfile for file
// downloads) that the wrapper would hide.
func (c *jsonErrConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

func jsonProtocolError(p []byte) ([]byte, bool) {
	const prefix = "HTTP/1.1 "
	if len(p) < len(prefix)+4 || !bytes.HasPrefix(p, []byte(prefix)) {
		return nil, false
	}
	i := bytes.Index(p, plainErrorHeaders)
	if i < 0 || bytes.IndexByte(p[:i], '\n') >= 0 {
		return nil, false
	}
	status, err := strconv.Atoi(string(p[len(prefix) : len(prefix)+3]))
	if err != nil {
		return nil, false
	}
	statusLine := string(p[len(prefix):i])
	text := string(p[i+len(plainErrorHeaders):])
	// The text repeats the status line ("400 Bad Request: missing …").
	if len(text) > 4 && text[3] == ' ' {
		text = text[4:]
	}
	var msg, code string
	switch status {
	case 431:
		msg, code = "Request headers are too large", "HEADERS_TOO_LARGE"
	case 400:
		msg, code = "Malformed HTTP request", "BAD_REQUEST"
		if detail, ok := strings.CutPrefix(text, "Bad Request: "); ok {
			msg += ": " + detail
		}
	case 501:
		msg, code = text, "NOT_IMPLEMENTED"
	default:
		msg, code = text, "HTTP_ERROR"
	}
	body, _ := json.Marshal(map[string]string{"error": msg, "code": code})
	body = append(body, '\n')
	head := fmt.Sprintf("HTTP/1.1 %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", statusLine, len(body))
	return append([]byte(head), body...), true
}
