package session

import "github.com/agentops/agentops/app/protocol"

// Conn is a socket as the actor sees it. Send must never block: it queues
// the frame (bounded) and reports false when the queue is full. Close ends
// the socket with a WebSocket close code and reason.
type Conn interface {
	ID() string
	Send(frame []byte) bool
	Close(code int, reason string)
}

// ChunkConn is a Conn that can merge streamed text: SendChunk queues a chunk
// frame, and a chunk that continues the last one still queued (same
// message, offset where that one ends) is appended to it instead of taking
// a place of its own. A browser that reads a little slower than the agent
// writes then receives fewer, larger chunks instead of being dropped. It
// must not block, and reports false when the queue is full.
type ChunkConn interface {
	Conn
	SendChunk(c *Chunk) bool
}

// Chunk is a piece of streamed text as every socket of a session gets it:
// encoded once, shared by all of them, and never modified after it is made.
type Chunk struct {
	MessageID string
	Offset    int // where Text starts in the message's text, in UTF-16 units
	End       int // Offset plus Text's length in UTF-16 units
	Text      string
	Frame     []byte // the chunk frame, encoded
}

// NewChunk encodes a chunk frame of text at offset in a message.
func NewChunk(messageID string, offset int, text string) *Chunk {
	return &Chunk{MessageID: messageID, Offset: offset, End: offset + protocol.UTF16Len(text), Text: text,
		Frame: frame(chunkFrame{Type: protocol.CChunk, MessageID: messageID, Content: text, Offset: offset})}
}

// Client is a browser socket and the user it belongs to.
type Client interface {
	Conn
	UserID() string
}

// PartClient is a Client that may take part-level updates: when
// PartUpdates is true (a browser that negotiated protocol.SubprotocolV2) it
// gets message.part.updated for each changed part of a message being
// written instead of the whole message again, and message.updated only
// when the message is finished.
type PartClient interface {
	Client
	PartUpdates() bool
}

func takesParts(c Client) bool {
	pc, ok := c.(PartClient)
	return ok && pc.PartUpdates()
}

// hub is the set of browser sockets of one session, with presence per
// user. Broadcasting never blocks: a socket whose queue is full is returned
// as slow, for the actor to close.
type hub struct {
	clients map[string]Client
	perUser map[string]int
	order   []string // user ids in order of joining, for presence lists
}

func newHub() *hub {
	return &hub{clients: map[string]Client{}, perUser: map[string]int{}}
}

// add registers a socket and reports whether it is its user's first.
func (h *hub) add(c Client) bool {
	h.clients[c.ID()] = c
	h.perUser[c.UserID()]++
	if h.perUser[c.UserID()] == 1 {
		h.order = append(h.order, c.UserID())
		return true
	}
	return false
}

// remove forgets a socket and reports whether it was its user's last. A
// socket that is not registered is ignored.
func (h *hub) remove(c Client) (known, last bool) {
	if _, ok := h.clients[c.ID()]; !ok {
		return false, false
	}
	delete(h.clients, c.ID())
	h.perUser[c.UserID()]--
	if h.perUser[c.UserID()] > 0 {
		return true, false
	}
	delete(h.perUser, c.UserID())
	for i, u := range h.order {
		if u == c.UserID() {
			h.order = append(h.order[:i], h.order[i+1:]...)
			break
		}
	}
	return true, true
}

// users lists the connected users, in order of joining.
func (h *hub) users() []string { return append([]string(nil), h.order...) }

// count is the number of sockets.
func (h *hub) count() int { return len(h.clients) }

// broadcast sends a frame to every socket and returns the ones too slow to
// take it.
func (h *hub) broadcast(frame []byte) []Client {
	var slow []Client
	for _, c := range h.clients {
		if !c.Send(frame) {
			slow = append(slow, c)
		}
	}
	return slow
}

// broadcastUpdate sends a change to a message being written: parts (the
// message.part.updated frames) to sockets that take parts, whole (the
// message.updated frame, made at most once) to the others; nil whole
// sends them nothing. It returns the sockets too slow to take it.
func (h *hub) broadcastUpdate(whole func() []byte, parts [][]byte) []Client {
	var slow []Client
	var b []byte
	for _, c := range h.clients {
		if takesParts(c) {
			for _, p := range parts {
				if !c.Send(p) {
					slow = append(slow, c)
					break
				}
			}
			continue
		}
		if whole == nil {
			continue
		}
		if b == nil {
			b = whole()
		}
		if !c.Send(b) {
			slow = append(slow, c)
		}
	}
	return slow
}

// broadcastChunk sends a chunk of streamed text to every socket, merged
// with the chunk each socket still has queued where it can (ChunkConn), and
// returns the sockets too slow to take it.
func (h *hub) broadcastChunk(messageID string, offset int, text string) []Client {
	if len(h.clients) == 0 {
		return nil
	}
	var slow []Client
	ch := NewChunk(messageID, offset, text)
	for _, c := range h.clients {
		var ok bool
		if cc, merges := c.(ChunkConn); merges {
			ok = cc.SendChunk(ch)
		} else {
			ok = c.Send(ch.Frame)
		}
		if !ok {
			slow = append(slow, c)
		}
	}
	return slow
}

// all returns every socket.
func (h *hub) all() []Client {
	out := make([]Client, 0, len(h.clients))
	for _, c := range h.clients {
		out = append(out, c)
	}
	return out
}
