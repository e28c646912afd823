package memory

import "time"

// sweepLoop drops expired records every interval. It exits when Close
// closes s.stop, closing s.done on the way out.
func (s *Store) sweepLoop(interval time.Duration) {
	defer close(s.done)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
			s.sweep()
		}
	}
}

// sweep drops every record and tombstone that has expired by the store
// clock.
func (s *Store) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	for key, rec := range s.records {
		if !rec.Live(now) {
			s.remove(key)
		}
	}
	for key, until := range s.tombstones {
		if !now.Before(until) {
			delete(s.tombstones, key)
		}
	}
}
