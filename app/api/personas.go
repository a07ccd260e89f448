package api

import (
	"net/http"

	"github.com/agentops/agentops/app/persona"
	"github.com/agentops/agentops/store"
)

func bindPersonas(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/personas", s.requireUser(s.listPersonas))
	m.HandleFunc("POST /api/personas", s.requireUser(s.createPersona))
	m.HandleFunc("GET /api/personas/{id}", s.requireUser(s.getPersona))
	m.HandleFunc("PUT /api/personas/{id}", s.requireUser(s.updatePersona))
	m.HandleFunc("DELETE /api/personas/{id}", s.requireUser(s.deletePersona))
	m.HandleFunc("PUT /api/personas/{id}/files", s.requireUser(s.replacePersonaFiles))
	m.HandleFunc("POST /api/personas/{id}/files", s.requireUser(s.putPersonaFile))
	m.HandleFunc("DELETE /api/personas/{id}/files/{fileId}", s.requireUser(s.deletePersonaFile))
}

type personaFileJSON struct {
	ID        string `json:"id"`
	PersonaID string `json:"personaId"`
	Filename  string `json:"filename"`
	Content   string `json:"content"`
	SortOrder int    `json:"sortOrder"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

// personaJSON is upstream's AgentPersona.
type personaJSON struct {
	ID           string            `json:"id"`
	OrgID        string            `json:"orgId"`
	Name         string            `json:"name"`
	Slug         string            `json:"slug"`
	Description  *string           `json:"description,omitempty"`
	Icon         *string           `json:"icon,omitempty"`
	DefaultModel *string           `json:"defaultModel,omitempty"`
	Visibility   string            `json:"visibility"`
	IsDefault    bool              `json:"isDefault"`
	CreatedBy    *string           `json:"createdBy"`
	CreatorName  *string           `json:"creatorName,omitempty"`
	FileCount    int               `json:"fileCount"`
	CreatedAt    string            `json:"createdAt"`
	UpdatedAt    string            `json:"updatedAt"`
	Files        []personaFileJSON `json:"files,omitempty"`
}

func toPersonaJSON(p *store.Persona, files []store.PersonaFile) personaJSON {
	out := personaJSON{ID: p.ID, OrgID: "default", Name: p.Name, Slug: p.Slug, Description: strPtr(p.Description),
		Icon: strPtr(p.Icon), DefaultModel: strPtr(p.DefaultModel), Visibility: p.Visibility, IsDefault: p.IsDefault,
		CreatedBy: strPtr(p.CreatedBy), CreatorName: strPtr(p.CreatorName), FileCount: p.FileCount,
		CreatedAt: isoTime(p.CreatedAt), UpdatedAt: isoTime(p.UpdatedAt)}
	if files != nil {
		out.Files = make([]personaFileJSON, len(files))
		out.FileCount = len(files)
		for i, f := range files {
			out.Files[i] = personaFileJSON{ID: f.ID, PersonaID: f.PersonaID, Filename: f.Filename, Content: f.Content,
				SortOrder: f.SortOrder, CreatedAt: isoTime(f.CreatedAt), UpdatedAt: isoTime(f.UpdatedAt)}
		}
	}
	return out
}

func caller(r *http.Request) persona.Caller {
	p := principal(r)
	return persona.Caller{UserID: p.User.ID, Admin: p.IsAdmin()}
}

func (s *Server) listPersonas(w http.ResponseWriter, r *http.Request) {
	list, err := s.personas.List(r.Context(), caller(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]personaJSON, len(list))
	for i := range list {
		out[i] = toPersonaJSON(&list[i], nil)
	}
	writeJSON(w, http.StatusOK, map[string]any{"personas": out})
}

func (s *Server) createPersona(w http.ResponseWriter, r *http.Request) {
	var in persona.Input
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	p, files, err := s.personas.Create(r.Context(), caller(r), in)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"persona": toPersonaJSON(p, files)})
}

func (s *Server) getPersona(w http.ResponseWriter, r *http.Request) {
	p, files, err := s.personas.Get(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"persona": toPersonaJSON(p, files)})
}

func (s *Server) updatePersona(w http.ResponseWriter, r *http.Request) {
	var in persona.Input
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.personas.Update(r.Context(), caller(r), r.PathValue("id"), in); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) deletePersona(w http.ResponseWriter, r *http.Request) {
	if err := s.personas.Delete(r.Context(), caller(r), r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) replacePersonaFiles(w http.ResponseWriter, r *http.Request) {
	var files []persona.File
	if err := decodeJSON(w, r, &files); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.personas.ReplaceFiles(r.Context(), caller(r), r.PathValue("id"), files); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) putPersonaFile(w http.ResponseWriter, r *http.Request) {
	var f persona.File
	if err := decodeJSON(w, r, &f); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.personas.PutFile(r.Context(), caller(r), r.PathValue("id"), f); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) deletePersonaFile(w http.ResponseWriter, r *http.Request) {
	if err := s.personas.DeleteFile(r.Context(), caller(r), r.PathValue("id"), r.PathValue("fileId")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
