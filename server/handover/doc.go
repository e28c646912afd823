// Package handover hands a running Sidecar's listening sockets to a new
// Sidecar, for upgrades without downtime.
//
// A running Sidecar (the old process) serves a unix socket at an agreed
// path ([Serve]). A new Sidecar starting up connects there ([TakeOver]) and
// receives the old process's listening sockets as file descriptors
// (SCM_RIGHTS). It is then the very same kernel socket in both processes,
// so connections queued in the accept backlog are never reset: whichever
// process calls accept first gets them. Once the new process serves
// ([Client.Ready]), the old one stops accepting, gives up the socket path
// and drains its in-flight requests ([ConnTracker] helps an http.Server do
// that without dropping a connection).
//
// We hand over FDs rather than using SO_REUSEPORT because closing one of
// several SO_REUSEPORT listeners resets the connections queued in its own
// backlog (unless net.ipv4.tcp_migrate_req is set).
//
// The package reads no configuration: the caller passes the socket path,
// the listeners and a logger.
//
// # Protocol, version 1
//
// One exchange per connection, one line per message. Every line is
// "sidecar-handover 1 <verb> [args...]\n", space-separated, at most 1024
// bytes; each step has a 10 s deadline on both sides. At most 16
// listeners travel in one hand-over, each named with [A-Za-z0-9._-]{1,64}.
//
//	new process                          old process
//	"... take"                   ───►
//	                             ◄───    "... listeners <name>..." + SCM_RIGHTS, one FD per name, same order
//	                                     or "... error <reason>" (then the old process closes)
//	(serves on the inherited listeners)
//	"... ready"                  ───►
//	                                     release(): stops accepting on its copies
//	                                     closes its unix listener, removes the path
//	                             ◄───    "... released"
//	(may now Serve on the path)          onHandedOver(): drains and exits
//
// If the exchange fails before "ready" (bad line, timeout, the new process
// dies), the old process closes the connection and keeps serving and
// accepting hand-over requests; the new process's FD copies die with it or
// its connection. Once "ready" is read, the hand-over is committed: the old
// process releases even if it cannot deliver "released".
//
// A peer answering with another version gets "sidecar-handover 1 error
// unsupported protocol version" (the old process) or an error wrapping
// [ErrVersion] (the new process).
//
// # Security
//
// Whoever can connect to the socket gets the listening sockets, so the file
// has mode 0600: only the same user (and root) can take over. The socket is
// bound in a private 0700 directory next to path, set to 0600, and only then
// hard-linked at path, so it is never reachable with a wider mode, and an
// existing file at path is never clobbered.
//
// Unix only (SCM_RIGHTS); Linux is what the tests run on.
package handover
