package protocol

// Terminal frames (an agentops addition) carry a shell's pseudo-terminal
// between a browser's terminal socket (GET /api/sessions/:id/terminal) and
// the runner, over the runner socket. They carry no seq: a terminal is not
// part of the session's durable stream, and a runner that reconnects ends
// its shells instead of replaying their output.
//
// Both directions are flow-controlled per terminal by credit: the runner
// sends at most TerminalWindow output bytes that the server has not
// acknowledged with terminal.ack (the server acknowledges bytes once it has
// written them to the browser), and the server sends at most
// TerminalInputWindow input bytes that the runner has not acknowledged
// (the runner acknowledges bytes once the shell's pseudo-terminal took
// them). A shell that prints faster than its browser reads is paused by
// its pseudo-terminal, like a terminal with ^S; nothing is dropped, and
// neither the runner socket nor the other terminals wait for it.
const (
	// TerminalOpen (server → runner) {terminalId, cols, rows} starts a shell.
	TerminalOpen = "terminal.open"
	// TerminalInput (server → runner) {terminalId, data}: keystrokes.
	TerminalInput = "terminal.input"
	// TerminalOutput (runner → server) {terminalId, data}: what the shell printed.
	TerminalOutput = "terminal.output"
	// TerminalResize (server → runner) {terminalId, cols, rows}.
	TerminalResize = "terminal.resize"
	// TerminalClose: server → runner {terminalId} ends the shell (SIGHUP
	// to its process group); runner → server {terminalId, exitCode?,
	// error?} says the shell ended or could not start.
	TerminalClose = "terminal.close"
	// TerminalAck {terminalId, bytes} returns credit: server → runner for
	// output written to the browser, runner → server for input written to
	// the shell.
	TerminalAck = "terminal.ack"
)

// TerminalSubprotocol is what a browser offers (with "bearer.<token>") on
// the terminal socket; the server answers it.
const TerminalSubprotocol = "agentops.terminal"

// Terminal flow-control bounds, in bytes of data (before base64).
const (
	TerminalWindow      = 256 << 10 // output in flight per terminal
	TerminalInputWindow = 64 << 10  // input in flight per terminal
	TerminalChunk       = 16 << 10  // most data in one output or input frame
)

// IsTerminalFrame reports whether a frame type is a terminal frame.
func IsTerminalFrame(frameType string) bool {
	switch frameType {
	case TerminalOpen, TerminalInput, TerminalOutput, TerminalResize, TerminalClose, TerminalAck:
		return true
	}
	return false
}

// TerminalFrame is a terminal frame in either direction. Data is base64 on
// the wire (a terminal's bytes need not be UTF-8).
type TerminalFrame struct {
	Type       string `json:"type"`
	TerminalID string `json:"terminalId"`
	Data       []byte `json:"data,omitempty"`
	Cols       int    `json:"cols,omitempty"`
	Rows       int    `json:"rows,omitempty"`
	Bytes      int    `json:"bytes,omitempty"`
	ExitCode   *int   `json:"exitCode,omitempty"`
	Error      string `json:"error,omitempty"`
}
