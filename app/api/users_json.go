package api

import "github.com/agentops/agentops/store"

// userJSON is upstream's User shape.
type userJSON struct {
	ID                  string   `json:"id"`
	Email               string   `json:"email"`
	Name                *string  `json:"name,omitempty"`
	AvatarURL           *string  `json:"avatarUrl,omitempty"`
	GitName             *string  `json:"gitName,omitempty"`
	GitEmail            *string  `json:"gitEmail,omitempty"`
	OnboardingCompleted bool     `json:"onboardingCompleted"`
	IdleTimeoutSeconds  int      `json:"idleTimeoutSeconds"`
	SandboxCPUCores     *float64 `json:"sandboxCpuCores,omitempty"`
	SandboxMemoryMiB    *int     `json:"sandboxMemoryMib,omitempty"`
	ModelPreferences    []string `json:"modelPreferences,omitempty"`
	UIQueueMode         string   `json:"uiQueueMode"`
	Timezone            *string  `json:"timezone,omitempty"`
	Role                string   `json:"role"`
	CreatedAt           string   `json:"createdAt"`
	UpdatedAt           string   `json:"updatedAt"`
}

func toUserJSON(u *store.User) userJSON {
	return userJSON{
		ID: u.ID, Email: u.Email, Name: strPtr(u.Name), AvatarURL: strPtr(u.AvatarURL),
		GitName: strPtr(u.GitName), GitEmail: strPtr(u.GitEmail), OnboardingCompleted: u.OnboardingCompleted,
		IdleTimeoutSeconds: u.IdleTimeoutSeconds, SandboxCPUCores: u.SandboxCPUCores, SandboxMemoryMiB: u.SandboxMemoryMiB,
		ModelPreferences: u.ModelPreferences, UIQueueMode: u.UIQueueMode, Timezone: strPtr(u.Timezone), Role: u.Role,
		CreatedAt: isoTime(u.CreatedAt), UpdatedAt: isoTime(u.UpdatedAt),
	}
}
