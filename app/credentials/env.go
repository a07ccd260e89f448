package credentials

import (
	"slices"
	"strings"
)

// Env maps resolved credentials to the environment variables that coding
// agents read (see docs/api.md, "Credentials"):
//
//	anthropic  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL
//	openai     OPENAI_API_KEY, OPENAI_BASE_URL
//	google     GEMINI_API_KEY, GOOGLE_API_KEY, GOOGLE_GENERATIVE_AI_API_KEY
//	github     GITHUB_TOKEN, GH_TOKEN
//	custom-x   CUSTOM_X_API_KEY, CUSTOM_X_BASE_URL, CUSTOM_X_MODELS (comma list)
//
// Without an openai key, the first custom provider (by name) also fills
// OPENAI_API_KEY, OPENAI_BASE_URL and OPENAI_MODELS, the variables most
// OpenAI-compatible clients read.
func Env(res []Resolved) map[string]string {
	res = slices.Clone(res)
	slices.SortFunc(res, func(a, b Resolved) int { return strings.Compare(a.Provider, b.Provider) })
	env := map[string]string{}
	setIf := func(k, v string) {
		if v != "" {
			env[k] = v
		}
	}
	haveOpenAI := false
	for _, r := range res {
		if r.Provider == OpenAI {
			haveOpenAI = true
		}
	}
	for _, r := range res {
		switch r.Provider {
		case Anthropic:
			env["ANTHROPIC_API_KEY"] = r.Key
			setIf("ANTHROPIC_BASE_URL", r.BaseURL)
		case OpenAI:
			env["OPENAI_API_KEY"] = r.Key
			setIf("OPENAI_BASE_URL", r.BaseURL)
		case Google:
			env["GEMINI_API_KEY"] = r.Key
			env["GOOGLE_API_KEY"] = r.Key
			env["GOOGLE_GENERATIVE_AI_API_KEY"] = r.Key
		case GitHub:
			env["GITHUB_TOKEN"] = r.Key
			env["GH_TOKEN"] = r.Key
		default:
			if !IsCustom(r.Provider) {
				continue
			}
			prefix := strings.ToUpper(strings.ReplaceAll(r.Provider, "-", "_")) + "_"
			env[prefix+"API_KEY"] = r.Key
			setIf(prefix+"BASE_URL", r.BaseURL)
			setIf(prefix+"MODELS", strings.Join(r.Models, ","))
			if !haveOpenAI {
				haveOpenAI = true // the first custom provider by name
				env["OPENAI_API_KEY"] = r.Key
				setIf("OPENAI_BASE_URL", r.BaseURL)
				setIf("OPENAI_MODELS", strings.Join(r.Models, ","))
			}
		}
	}
	return env
}
