package auth

import (
	"context"

	"github.com/agentops/agentops/app/apperr"
	zone "github.com/agentops/agentops/app/tz"
	"github.com/agentops/agentops/store"
)

// ProfilePatch is PATCH /api/auth/me: nil fields are left alone.
type ProfilePatch struct {
	Name                *string   `json:"name"`
	GitName             *string   `json:"gitName"`
	GitEmail            *string   `json:"gitEmail"`
	OnboardingCompleted *bool     `json:"onboardingCompleted"`
	IdleTimeoutSeconds  *int      `json:"idleTimeoutSeconds"`
	SandboxCPUCores     *float64  `json:"sandboxCpuCores"`
	SandboxMemoryMiB    *int      `json:"sandboxMemoryMib"`
	ModelPreferences    *[]string `json:"modelPreferences"`
	UIQueueMode         *string   `json:"uiQueueMode"`
	Timezone            *string   `json:"timezone"`
}

// UpdateProfile validates and applies a patch to the caller's profile.
func (s *Service) UpdateProfile(ctx context.Context, userID string, p ProfilePatch) (*store.User, error) {
	u, err := s.st.Users().Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	var cols []string
	set := func(col string) { cols = append(cols, col) }
	if p.Name != nil {
		if len(*p.Name) > 255 {
			return nil, apperr.Invalid("name", "name must be at most 255 characters")
		}
		u.Name = *p.Name
		set("name")
	}
	if p.GitName != nil {
		if len(*p.GitName) > 255 {
			return nil, apperr.Invalid("gitName", "gitName must be at most 255 characters")
		}
		u.GitName = *p.GitName
		set("git_name")
	}
	if p.GitEmail != nil {
		u.GitEmail = ""
		if *p.GitEmail != "" {
			e, err := NormalizeEmail(*p.GitEmail)
			if err != nil {
				return nil, apperr.Invalid("gitEmail", "gitEmail is not a valid address")
			}
			u.GitEmail = e
		}
		set("git_email")
	}
	if p.OnboardingCompleted != nil {
		u.OnboardingCompleted = *p.OnboardingCompleted
		set("onboarding_completed")
	}
	if p.IdleTimeoutSeconds != nil {
		if v := *p.IdleTimeoutSeconds; v < 300 || v > 3600 {
			return nil, apperr.Invalid("idleTimeoutSeconds", "idleTimeoutSeconds must be between 300 and 3600")
		}
		u.IdleTimeoutSeconds = *p.IdleTimeoutSeconds
		set("idle_timeout_seconds")
	}
	if p.SandboxCPUCores != nil {
		if v := *p.SandboxCPUCores; v < 0.5 || v > 8 {
			return nil, apperr.Invalid("sandboxCpuCores", "sandboxCpuCores must be between 0.5 and 8")
		}
		u.SandboxCPUCores = p.SandboxCPUCores
		set("sandbox_cpu_cores")
	}
	if p.SandboxMemoryMiB != nil {
		if v := *p.SandboxMemoryMiB; v < 256 || v > 8192 {
			return nil, apperr.Invalid("sandboxMemoryMib", "sandboxMemoryMib must be between 256 and 8192")
		}
		u.SandboxMemoryMiB = p.SandboxMemoryMiB
		set("sandbox_memory_mib")
	}
	if p.ModelPreferences != nil {
		prefs := *p.ModelPreferences
		if len(prefs) > 20 {
			return nil, apperr.Invalid("modelPreferences", "modelPreferences cannot exceed 20 items")
		}
		for i, m := range prefs {
			if m == "" || len(m) > 255 {
				return nil, apperr.Invalid("modelPreferences", "modelPreferences[%d] must be 1 to 255 characters", i)
			}
		}
		u.ModelPreferences = prefs
		set("model_preferences")
	}
	if p.UIQueueMode != nil {
		switch *p.UIQueueMode {
		case "followup", "collect", "steer":
		default:
			return nil, apperr.Invalid("uiQueueMode", "uiQueueMode must be followup, collect or steer")
		}
		u.UIQueueMode = *p.UIQueueMode
		set("ui_queue_mode")
	}
	if p.Timezone != nil {
		tz := *p.Timezone
		if len(tz) > 50 {
			return nil, apperr.Invalid("timezone", "timezone must be at most 50 characters")
		}
		if tz != "" {
			if _, err := zone.Load(tz); err != nil {
				return nil, apperr.Invalid("timezone", "timezone %q is not an IANA time zone", tz)
			}
		}
		u.Timezone = tz
		set("timezone")
	}
	if len(cols) == 0 {
		return u, nil
	}
	u.UpdatedAt = s.now()
	if err := s.st.Users().Update(ctx, u, cols...); err != nil {
		return nil, err
	}
	return u, nil
}
