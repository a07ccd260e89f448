package memory

import (
	"fmt"
	"strings"

	"github.com/agentops/agentops/app/apperr"
)

// Patch operation names (upstream's).
const (
	OpAppend        = "append"
	OpPrepend       = "prepend"
	OpReplace       = "replace"
	OpReplaceAll    = "replace_all"
	OpInsertAfter   = "insert_after"
	OpDeleteSection = "delete_section"
)

// MaxOps bounds the operations of one patch.
const MaxOps = 20

// Op is one patch operation; each op uses its own fields.
type Op struct {
	Op      string  `json:"op"`
	Content *string `json:"content,omitempty"` // append, prepend, insert_after
	Old     *string `json:"old,omitempty"`     // replace, replace_all
	New     *string `json:"new,omitempty"`     // replace, replace_all
	Anchor  *string `json:"anchor,omitempty"`  // insert_after
	Heading *string `json:"heading,omitempty"` // delete_section
}

// validateOps checks every operation before any is applied: a bad one
// makes the whole patch a 400 that changes nothing.
func validateOps(ops []Op) error {
	if len(ops) == 0 || len(ops) > MaxOps {
		return apperr.Invalid("operations", "operations must hold 1 to %d operations", MaxOps)
	}
	for i, op := range ops {
		field := fmt.Sprintf("operations[%d]", i)
		need := func(name string, v *string, nonEmpty bool) error {
			if v == nil || (nonEmpty && *v == "") {
				return apperr.Invalid(field+"."+name, "%s.%s is required for %s", field, name, op.Op)
			}
			return nil
		}
		var err error
		switch op.Op {
		case OpAppend, OpPrepend:
			err = need("content", op.Content, true)
		case OpReplace, OpReplaceAll:
			if err = need("old", op.Old, true); err == nil {
				err = need("new", op.New, false)
			}
		case OpInsertAfter:
			if err = need("anchor", op.Anchor, true); err == nil {
				err = need("content", op.Content, true)
			}
		case OpDeleteSection:
			if err = need("heading", op.Heading, true); err == nil && headingLevel(*op.Heading) == 0 {
				err = apperr.Invalid(field+".heading", "%s.heading must be a markdown heading such as \"## Section\"", field)
			}
		default:
			err = apperr.Invalid(field+".op", "%s.op must be one of append, prepend, replace, replace_all, insert_after, delete_section", field)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// headingLevel is the number of leading '#' of a markdown heading line
// ("## x" → 2), 0 when it is not one.
func headingLevel(line string) int {
	line = strings.TrimSpace(line)
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	if n == 0 || n == len(line) || (line[n] != ' ' && line[n] != '\t') {
		return 0
	}
	return n
}

func clip(s string) string { return truncate(s, 40) }

// applyOps applies ops to content in order. exists says whether the file
// exists: on a missing file only append and prepend apply. It returns the
// new content, how many ops applied and why the others were skipped.
func applyOps(content string, exists bool, ops []Op) (string, int, []string) {
	applied := 0
	skipped := []string{}
	for _, op := range ops {
		if !exists && content == "" && op.Op != OpAppend && op.Op != OpPrepend {
			skipped = append(skipped, fmt.Sprintf("%s: the file does not exist", op.Op))
			continue
		}
		switch op.Op {
		case OpAppend:
			content += *op.Content
			applied++
		case OpPrepend:
			content = *op.Content + content
			applied++
		case OpReplace:
			if i := strings.Index(content, *op.Old); i < 0 {
				skipped = append(skipped, fmt.Sprintf("replace %q: not found", clip(*op.Old)))
			} else {
				content = content[:i] + *op.New + content[i+len(*op.Old):]
				applied++
			}
		case OpReplaceAll:
			if !strings.Contains(content, *op.Old) {
				skipped = append(skipped, fmt.Sprintf("replace_all %q: not found", clip(*op.Old)))
			} else {
				content = strings.ReplaceAll(content, *op.Old, *op.New)
				applied++
			}
		case OpInsertAfter:
			lines := strings.Split(content, "\n")
			at := -1
			for i, l := range lines {
				if strings.Contains(l, *op.Anchor) {
					at = i
					break
				}
			}
			if at < 0 {
				skipped = append(skipped, fmt.Sprintf("insert_after %q: anchor not found", clip(*op.Anchor)))
				continue
			}
			lines = append(lines[:at+1], append([]string{*op.Content}, lines[at+1:]...)...)
			content = strings.Join(lines, "\n")
			applied++
		case OpDeleteSection:
			var ok bool
			if content, ok = deleteSection(content, *op.Heading); ok {
				applied++
			} else {
				skipped = append(skipped, fmt.Sprintf("delete_section %q: heading not found", clip(*op.Heading)))
			}
		}
	}
	return content, applied, skipped
}

// deleteSection removes the heading line equal to heading and everything
// up to the next heading of the same or a higher level.
func deleteSection(content, heading string) (string, bool) {
	level := headingLevel(heading)
	want := strings.TrimSpace(heading)
	lines := strings.Split(content, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == want {
			start = i
			break
		}
	}
	if start < 0 {
		return content, false
	}
	end := len(lines)
	for i := start + 1; i < len(lines); i++ {
		if l := headingLevel(lines[i]); l > 0 && l <= level {
			end = i
			break
		}
	}
	return strings.Join(append(lines[:start], lines[end:]...), "\n"), true
}
