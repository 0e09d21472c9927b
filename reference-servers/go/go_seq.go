// Model: Go, goroutines per connection over net.Listen. The runtime makes
// the sockets non-blocking and parks goroutines in its epoll netpoller; the
// code reads as blocking calls. IO goes through raw system calls, not libc,
// so an LD_PRELOAD shim sees none of it: this server is the subject that
// shows what the gate says about such a server.
//
// Flags, the "listening on PORT" line and the seq/echo protocols match the C
// servers (core/net.cc, core/protocol.cc).
//
// Errors, the way good Go code handles them:
//
//	Accept: a temporary error (EMFILE, ENFILE...) backs off 5 ms doubling up
//	        to 1 s, like net/http's Server.Serve; any other error exits 1.
//	Read:   bytes first (io.Reader contract), then any error (io.EOF too)
//	        ends the connection.
//	Write:  net.Conn.Write writes everything or returns an error, which closes
//	        the connection (and so ends its Read).
//
// Two goroutines per connection, reader and writer: the writer closes conn,
// the reader tells it when to by closing the reply channel; both always end.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// session is the per-connection protocol state (core/protocol.cc Session):
// it lives as long as the connection, so any split of the input gives the
// same replies.
type session struct {
	seq     bool
	inFrame bool
}

// feed appends to out the replies to data: seq answers each byte b inside a
// frame "^...$" with b+1; the delimiters and bytes outside frames get nothing.
func (s *session) feed(data, out []byte) []byte {
	if !s.seq {
		return append(out, data...)
	}
	for _, b := range data {
		switch {
		case !s.inFrame:
			s.inFrame = b == '^'
		case b == '$':
			s.inFrame = false
		default:
			out = append(out, b+1)
		}
	}
	return out
}

// serve is a connection's reader: it parses and hands the replies to write,
// a goroutine of its own (the shape of Go servers whose output also comes
// from elsewhere: pub/sub, broadcast). Closing replies tells the writer the
// reader is done; the channel's bound keeps back-pressure: a client that does
// not read stops the reader.
func serve(conn net.Conn, seq bool) {
	replies := make(chan []byte, 1)
	greeting := []byte(nil)
	if seq {
		greeting = []byte("*")
	}
	go write(conn, replies, greeting)
	defer close(replies) // on every exit: the writer flushes what is queued, then closes conn
	s := session{seq: seq}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if out := s.feed(buf[:n], nil); len(out) > 0 {
			replies <- out
		}
		if err != nil { // io.EOF, a reset, or conn closed by the writer
			return
		}
	}
}

// write owns conn: it sends the greeting and every reply and closes conn when
// the reader is done. After a write error it still drains replies, so the
// reader never blocks on the channel.
func write(conn net.Conn, replies <-chan []byte, greeting []byte) {
	defer conn.Close()
	ok := len(greeting) == 0 || send(conn, greeting)
	for out := range replies {
		ok = ok && send(conn, out)
	}
}

// send writes all of b: net.Conn.Write returns only once all of it is written
// or with an error. An error closes conn, which ends the reader's Read too.
func send(conn net.Conn, b []byte) bool {
	if _, err := conn.Write(b); err != nil {
		conn.Close()
		return false
	}
	return true
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("iogate-go_seq: ")
	port := flag.Int("port", 0, "TCP port (0: the kernel picks, printed on stdout)")
	host := flag.String("host", "127.0.0.1", "IPv4 address to listen on")
	protocol := flag.String("protocol", "seq", "seq or echo")
	flag.Int("threads", 4, "accepted like the C servers; unused")
	flag.Parse()
	if *protocol != "seq" && *protocol != "echo" || flag.NArg() > 0 ||
		*port < 0 || *port > 65535 || net.ParseIP(*host).To4() == nil {
		flag.Usage()
		os.Exit(2)
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %d\n", ln.Addr().(*net.TCPAddr).Port) // os.Stdout is unbuffered

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		os.Exit(0)
	}()

	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			// Temporary is deprecated for timeouts only; net/http still uses it here.
			if ne, ok := err.(net.Error); ok && ne.Temporary() {
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				log.Printf("accept: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			log.Fatal(err)
		}
		delay = 0
		go serve(conn, *protocol == "seq")
	}
}
