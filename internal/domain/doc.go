// Package domain is the onboarding domain's one vocabulary: session statuses and failure
// reasons (SPEC §4.5, §6), connection modes and heartbeat statuses (§7), delivery outcomes (§8),
// the names and ids of every workflow, signal, Update and query, their start options, and every
// type that crosses the workflow/activity boundary. api, workflows and activities all import it;
// it imports nothing of theirs, so activities never need the workflows package.
package domain
