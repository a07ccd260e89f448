import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError } from "./api";

let nextId = 0;
export function useId(prefix: string): string {
  const [id] = useState(() => `${prefix}-${++nextId}`);
  return id;
}

type FieldProps = {
  label: string;
  name: string;
  error?: string;
  hint?: ComponentChildren;
  children?: never;
} & Record<string, any>;

/** A labelled input; its error and hint are tied to it with aria-describedby. */
export function Field({ label, name, error, hint, ...rest }: FieldProps) {
  const id = useId(name);
  const described = [error ? id + "-err" : "", hint ? id + "-hint" : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} name={name} aria-invalid={error ? "true" : undefined} aria-describedby={described} {...(rest as any)} />
      {hint && (
        <p class="hint" id={id + "-hint"}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={id + "-err"}>
          {error}
        </p>
      )}
    </div>
  );
}

type SelectProps = {
  label: string;
  name: string;
  error?: string;
  hint?: ComponentChildren;
  children: ComponentChildren;
} & Record<string, any>;

export function Select({ label, name, error, hint, children, ...rest }: SelectProps) {
  const id = useId(name);
  const described = [error ? id + "-err" : "", hint ? id + "-hint" : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} name={name} aria-invalid={error ? "true" : undefined} aria-describedby={described} {...(rest as any)}>
        {children}
      </select>
      {hint && (
        <p class="hint" id={id + "-hint"}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={id + "-err"}>
          {error}
        </p>
      )}
    </div>
  );
}

type AreaProps = { label: string; name: string; error?: string; hint?: ComponentChildren } & Record<string, any>;

export function TextArea({ label, name, error, hint, ...rest }: AreaProps) {
  const id = useId(name);
  const described = [error ? id + "-err" : "", hint ? id + "-hint" : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <textarea id={id} name={name} aria-invalid={error ? "true" : undefined} aria-describedby={described} {...(rest as any)} />
      {hint && (
        <p class="hint" id={id + "-hint"}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={id + "-err"}>
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * Form state for a request: busy, and the server's error split into the
 * field that details.field names (when the form shows that field) and a
 * message for the whole form.
 */
export function useSubmit(fields: string[] = []) {
  const [busy, setBusy] = useState(false);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState("");
  async function run(fn: () => Promise<void>) {
    setBusy(true);
    setFieldErrors({});
    setFormError("");
    try {
      await fn();
    } catch (e) {
      if (e instanceof ApiError && e.field && fields.includes(e.field)) setFieldErrors({ [e.field]: e.message });
      else setFormError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }
  return { busy, fieldErrors, formError, run, setFieldErrors, setFormError };
}

export function FormError({ message }: { message: string }) {
  if (!message) return null;
  return (
    <p class="form-error" role="alert">
      {message}
    </p>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={"badge status-" + status}>{status}</span>;
}

/** Reads a form's named fields as strings. */
export function formValues(e: Event): Record<string, string> {
  e.preventDefault();
  const fd = new FormData(e.currentTarget as HTMLFormElement);
  const out: Record<string, string> = {};
  fd.forEach((v, k) => (out[k] = typeof v === "string" ? v : ""));
  return out;
}
