package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// loadSnapshot restores the state saved by a previous process, so
// `dualhook dev` keeps its WABAs, numbers and tokens across restarts.
func (s *Sandbox) loadSnapshot() error {
	if s.cfg.SnapshotPath == "" {
		return nil
	}
	data, err := os.ReadFile(s.cfg.SnapshotPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sandbox: read snapshot: %w", err)
	}
	st := newState()
	if err := json.Unmarshal(data, st); err != nil {
		return fmt.Errorf("sandbox: parse snapshot %s: %w", s.cfg.SnapshotPath, err)
	}
	for _, m := range []bool{st.Businesses == nil, st.WABAs == nil, st.Phones == nil, st.Codes == nil, st.Tokens == nil} {
		if m {
			return fmt.Errorf("sandbox: snapshot %s is incomplete", s.cfg.SnapshotPath)
		}
	}
	s.st = st
	s.clock.Advance(st.ClockOffset - s.clock.Offset())
	return nil
}

// persist writes the snapshot if the state changed since the last write.
// Writes go to a temporary file renamed over the old one, so a crash never
// leaves a truncated snapshot behind.
func (s *Sandbox) persist() {
	if s.cfg.SnapshotPath == "" {
		return
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	v := s.version
	if v <= s.savedVersion {
		s.mu.Unlock()
		return
	}
	s.st.ClockOffset = s.clock.Offset()
	data, err := json.MarshalIndent(s.st, "", "  ")
	s.mu.Unlock()
	if err == nil {
		err = writeFileAtomic(s.cfg.SnapshotPath, data)
	}
	if err != nil {
		s.log.Error("saving sandbox snapshot failed", "path", s.cfg.SnapshotPath, "error", err)
		return
	}
	s.savedVersion = v
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".sandbox-snapshot-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	// 0600: the snapshot holds tokens and PINs.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
