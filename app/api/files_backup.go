package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store/blob"
)

// backupJSONLimit bounds the JSON body of POST /api/files/backup (text held
// in memory); larger or binary files go through PUT, which streams.
const backupJSONLimit = 16 << 20

func bindFilesBackup(s *Server, m *http.ServeMux) {
	m.HandleFunc("POST /api/files/backup", s.requireUser(s.backupFile))
	m.HandleFunc("GET /api/files/backup", s.requireUser(s.listBackups))
	m.HandleFunc("GET /api/files/backup/{key...}", s.requireUser(s.downloadBackup))
	m.HandleFunc("PUT /api/files/backup/{key...}", s.requireUser(s.uploadBackup))
	m.HandleFunc("DELETE /api/files/backup/{key...}", s.requireUser(s.deleteBackup))
}

type backupRequest struct {
	SessionID *string `json:"sessionId"`
	Path      *string `json:"path"`
	Content   *string `json:"content"`
}

func (s *Server) backupFile(w http.ResponseWriter, r *http.Request) {
	var req backupRequest
	if err := decodeJSONLimit(w, r, &req, backupJSONLimit); err != nil {
		writeError(w, r, err)
		return
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"sessionId", req.SessionID}, {"path", req.Path}, {"content", req.Content}} {
		if err := required(f.name, f.v != nil && *f.v != ""); err != nil {
			writeError(w, r, err)
			return
		}
	}
	key, err := s.artifacts.Backup(r.Context(), principal(r).User.ID, *req.SessionID, *req.Path, *req.Content)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": key, "success": true})
}

type backupFileJSON struct {
	Key      string `json:"key"`
	Size     int64  `json:"size"`
	Uploaded string `json:"uploaded"`
}

func (s *Server) listBackups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit", 100, 1, blob.MaxListLimit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	page, err := s.artifacts.List(r.Context(), principal(r).User.ID, q.Get("sessionId"), q.Get("prefix"), q.Get("cursor"), limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	files := make([]backupFileJSON, 0, len(page.Files))
	for _, f := range page.Files {
		files = append(files, backupFileJSON{Key: f.Key, Size: f.Size, Uploaded: isoTime(f.Uploaded)})
	}
	body := map[string]any{"files": files}
	if page.Cursor != "" {
		body["cursor"] = page.Cursor
	}
	writeJSON(w, http.StatusOK, body)
}

// downloadBackup streams an artifact: conditional (ETag, Last-Modified)
// and ranged (one byte range) GETs, and HEAD.
func (s *Server) downloadBackup(w http.ResponseWriter, r *http.Request) {
	user, sessionID, key := principal(r).User.ID, r.URL.Query().Get("sessionId"), r.PathValue("key")
	info, err := s.artifacts.Stat(r.Context(), user, sessionID, key)
	if err != nil {
		writeError(w, r, err)
		return
	}
	etag := `"` + info.ETag + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Last-Modified", info.ModTime.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Cache-Control", "private, no-cache")
	if notModified(r, etag, info.ModTime) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	rng, outcome := parseRange(r, info.Size, etag, info.ModTime)
	if outcome == rangeUnsatisfiable {
		unsatisfiable(w, r, info.Size)
		return
	}
	var want *blob.Range
	if outcome == rangePart {
		want = &rng
	}
	obj := &blob.Object{Info: info, Range: blob.Range{Offset: 0, Length: info.Size}, Body: http.NoBody}
	if r.Method != http.MethodHead {
		obj, err = s.artifacts.Open(r.Context(), user, sessionID, key, want)
		if errors.Is(err, blob.ErrInvalidRange) {
			unsatisfiable(w, r, info.Size) // it shrank since the Stat
			return
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
	} else if want != nil {
		obj.Range = rng
	}
	defer obj.Body.Close()
	// The object read may be newer than the Stat: describe what is sent.
	h.Set("ETag", `"`+obj.ETag+`"`)
	h.Set("Last-Modified", obj.ModTime.UTC().Format(http.TimeFormat))
	ct := obj.ContentType
	if ct == "" {
		ct = blob.DefaultContentType
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(key)}))
	// Uploaded content is served from our origin: never let it run as a page.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Content-Length", strconv.FormatInt(obj.Range.Length, 10))
	status := http.StatusOK
	if want != nil {
		h.Set("Content-Range", "bytes "+strconv.FormatInt(obj.Range.Offset, 10)+"-"+
			strconv.FormatInt(obj.Range.Offset+obj.Range.Length-1, 10)+"/"+strconv.FormatInt(obj.Size, 10))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(w, struct{ io.Reader }{obj.Body}, buf); err != nil && r.Context().Err() == nil {
		// Too late for an error body: the short response tells the client.
		s.log.WarnContext(r.Context(), "artifact download cut short", "key", key, "session_id", sessionID, "err", err)
	}
}

func unsatisfiable(w http.ResponseWriter, r *http.Request, size int64) {
	w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
	for _, k := range []string{"ETag", "Last-Modified", "Cache-Control"} {
		w.Header().Del(k)
	}
	writeJSON(w, http.StatusRequestedRangeNotSatisfiable, map[string]any{
		"error":   "The Range header is malformed or starts past the end of the file",
		"code":    "RANGE_NOT_SATISFIABLE",
		"details": map[string]any{"size": size, "range": r.Header.Get("Range")},
	})
}

// uploadBackup stores a raw request body as an artifact, streaming it.
func (s *Server) uploadBackup(w http.ResponseWriter, r *http.Request) {
	stored, err := s.artifacts.Upload(r.Context(), principal(r).User.ID, r.URL.Query().Get("sessionId"), r.PathValue("key"),
		r.Body, r.ContentLength, r.Header.Get("Content-Type"))
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Kind == apperr.KindTooLarge {
			// Do not read the rest of a body we refused.
			w.Header().Set("Connection", "close")
		}
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": stored.Key, "size": stored.Size, "etag": stored.ETag, "success": true})
}

func (s *Server) deleteBackup(w http.ResponseWriter, r *http.Request) {
	if err := s.artifacts.Delete(r.Context(), principal(r).User.ID, r.URL.Query().Get("sessionId"), r.PathValue("key")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
}
