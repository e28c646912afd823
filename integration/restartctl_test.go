package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// restartControl lets a shell command restart the test's apps, the way a
// deploy script runs `systemctl restart app@NAME`. The test listens on a
// loopback port; the command is a bash script that sends "restart NAME"
// over /dev/tcp (nothing needed beyond bash, which runs the deploy script
// anyway) and prints the one-line answer, failing unless it starts with
// "started". The test goroutine takes each request from requests and
// restarts the appProc itself, so the test owns every process, its output
// and its cleanup, exactly as for apps it starts directly.
type restartControl struct {
	// command is a RESTART for docs/rolling-deploy.sh: {name} is the app.
	command string
	// requests delivers each "restart NAME" received.
	requests <-chan restartRequest
}

// restartRequest is one "restart NAME" from the command.
type restartRequest struct {
	name string
	// reply takes the answer line: "started ..." for success, anything
	// else is printed by the command, which then fails.
	reply chan<- string
}

// restartScript is the command's body; %d is the control port.
const restartScript = `#!/usr/bin/env bash
# restart NAME: asks the Go test to stop app NAME (SIGTERM, wait for its
# exit) and start it again, returning once the new process has started,
# before it listens, as systemctl restart does.
set -euo pipefail
exec 3<>/dev/tcp/127.0.0.1/%d
printf 'restart %%s\n' "$1" >&3
if ! IFS= read -r -t 90 reply <&3; then
  echo "restart $1: no answer from the test" >&2
  exit 1
fi
case $reply in
  started*) echo "$reply" ;;
  *) echo "restart $1: $reply" >&2; exit 1 ;;
esac
`

// startRestartControl listens on a free loopback port and writes the
// command's script into a temporary directory. The accept loop exits when
// t's cleanup closes the listener; each connection's goroutine exits once
// answered, or at cleanup.
func startRestartControl(t *testing.T) *restartControl {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		_ = ln.Close()
	})
	script := filepath.Join(t.TempDir(), "restart.bash")
	require.NoError(t, os.WriteFile(script, fmt.Appendf(nil, restartScript, ln.Addr().(*net.TCPAddr).Port), 0o600))

	requests := make(chan restartRequest)
	go func() { // exits when the listener is closed
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveRestart(conn, requests, done) // exits once answered, or at cleanup
		}
	}()
	return &restartControl{command: fmt.Sprintf("bash '%s' {name}", script), requests: requests}
}

// serveRestart reads one "restart NAME" from conn, hands it to the test
// goroutine and writes back its answer.
func serveRestart(conn net.Conn, requests chan<- restartRequest, done <-chan struct{}) {
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(readyTimeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	name, ok := strings.CutPrefix(strings.TrimSpace(line), "restart ")
	if !ok {
		fmt.Fprintf(conn, "bad request %q\n", line)
		return
	}
	reply := make(chan string, 1)
	select {
	case requests <- restartRequest{name: name, reply: reply}:
	case <-done:
		return
	}
	select {
	case answer := <-reply:
		fmt.Fprintln(conn, answer)
	case <-done:
	}
}
