package users_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/users"
)

// writeFile writes a users file into a fresh directory and returns its path.
func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoad: a users file gives its users and published labs, lab paths made absolute
// beside the file.
func TestLoad(t *testing.T) {
	_, aliceHash := users.NewToken()
	_, bobHash := users.NewToken()
	path := writeFile(t, `labs:
  - tcp-simple
  - labs/echo.star
  - /srv/labs/udp.star
users:
  - name: alice
    role: student
    token_sha256: "`+aliceHash+`"
    agents: [pc1, pc2]
  - name: bob@example.edu
    role: instructor
    token_sha256: "`+bobHash+`"
`)
	f, err := users.Load(path)
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	wantLabs := []string{"tcp-simple", filepath.Join(filepath.Dir(path), "labs/echo.star"), "/srv/labs/udp.star"}
	if strings.Join(f.Labs, " ") != strings.Join(wantLabs, " ") {
		t.Errorf("labs %q, want %q", f.Labs, wantLabs)
	}
	if len(f.Users) != 2 || f.Users[0].Name != "alice" || f.Users[0].Role != users.Student || strings.Join(f.Users[0].Agents, ",") != "pc1,pc2" ||
		f.Users[1].Role != users.Instructor || f.Users[1].TokenSHA256 != bobHash {
		t.Errorf("users %+v", f.Users)
	}
	if f, err := users.Load(writeFile(t, "")); err != nil || len(f.Users) != 0 {
		t.Errorf("Load(an empty file) = %+v, %v; want no users", f, err)
	}
}

// TestLoadErrors: each mistake in a users file is an error that names the user and says
// what to write instead.
func TestLoadErrors(t *testing.T) {
	_, h := users.NewToken()
	_, h2 := users.NewToken()
	for _, tc := range []struct{ name, text, want string }{
		{"unknown field", "users:\n  - name: a\n    role: admin\n    token: x\n", "field token not found"},
		{"no name", "users:\n  - role: admin\n    token_sha256: " + h + "\n", "user 1 has no name"},
		{"bad name", "users:\n  - name: a b\n    role: admin\n    token_sha256: " + h + "\n", `user name "a b"`},
		{"twice", "users:\n  - {name: a, role: admin, token_sha256: " + h + "}\n  - {name: a, role: admin, token_sha256: " + h2 + "}\n", "user a is listed twice"},
		{"bad role", "users:\n  - {name: a, role: teacher, token_sha256: " + h + "}\n", `user a: role "teacher": use admin, instructor or student`},
		{"no hash", "users:\n  - {name: a, role: admin}\n", "user a: no token_sha256"},
		{"a token, not its hash", "users:\n  - {name: a, role: admin, token_sha256: socklab_abc}\n", "never the token"},
		{"upper-case hash", "users:\n  - {name: a, role: admin, token_sha256: " + strings.ToUpper(h) + "}\n", "64 lower-case hex digits"},
		{"shared token", "users:\n  - {name: a, role: admin, token_sha256: " + h + "}\n  - {name: b, role: student, token_sha256: " + h + "}\n", "users a and b have the same token"},
		{"agents of an instructor", "users:\n  - {name: a, role: instructor, token_sha256: " + h + ", agents: [pc1]}\n", "agents are assigned to students"},
		{"agent twice", "users:\n  - {name: a, role: student, token_sha256: " + h + ", agents: [pc1, pc1]}\n", "user a: agent pc1 is assigned twice"},
		{"lab twice", "labs: [x, x]\n", "x is published twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := users.Load(writeFile(t, tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load() = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestToken: tokens are 32 random bytes behind a prefix, each different; the file keeps
// the SHA-256, and an entry made for a user loads back as that user.
func TestToken(t *testing.T) {
	tok, hash := users.NewToken()
	other, _ := users.NewToken()
	if !strings.HasPrefix(tok, "socklab_") || len(tok) != len("socklab_")+43 || tok == other {
		t.Errorf("NewToken() = %q (then %q): want socklab_ and 43 base64url characters, never the same", tok, other)
	}
	// sha256("abc"), from FIPS 180-2.
	if got := users.Hash("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf(`Hash("abc") = %s`, got)
	}
	if users.Hash(tok) != hash {
		t.Errorf("NewToken's hash is not Hash(token)")
	}
	entry, err := users.Entry(users.User{Name: "alice", Role: users.Student, TokenSHA256: hash, Agents: []string{"pc1"}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := users.Load(writeFile(t, "users:\n"+indent(entry)))
	if err != nil || len(f.Users) != 1 || f.Users[0].TokenSHA256 != hash || f.Users[0].Agents[0] != "pc1" {
		t.Errorf("the entry\n%s\nloads as %+v, %v", entry, f, err)
	}
	if strings.Contains(entry, tok) {
		t.Errorf("the entry holds the token:\n%s", entry)
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

// TestAuthenticate: a token finds its user; the plain --token is the admin TokenUser; a
// wrong or missing token is refused; with no token and no file every caller is
// Anonymous; a file's user may not take TokenUser's name beside a token.
func TestAuthenticate(t *testing.T) {
	aliceTok, aliceHash := users.NewToken()
	f := &users.File{Users: []users.User{{Name: "alice", Role: users.Student, TokenSHA256: aliceHash}}}
	d, err := users.NewDirectory(f, "CT")
	if err != nil {
		t.Fatal(err)
	}
	call := func(token string) metadata.MD {
		if token == "" {
			return metadata.MD{}
		}
		return metadata.Pairs("authorization", "Bearer "+token)
	}
	for _, tc := range []struct {
		name, token, user string
		role              users.Role
		err               string
	}{
		{"a user's token", aliceTok, "alice", users.Student, ""},
		{"the plain token", "CT", users.TokenUser, users.Admin, ""},
		{"wrong", "socklab_nope", "", "", "wrong token"},
		{"the hash for the token", aliceHash, "", "", "wrong token"},
		{"missing", "", "", "", "missing token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := d.Authenticate(metadata.NewIncomingContext(t.Context(), call(tc.token)))
			switch {
			case tc.err != "":
				if !errors.Is(errdefs.FromGRPC(err), errdefs.ErrUnauthenticated) || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("Authenticate() = %+v, %v; want unauthenticated: %q", u, err, tc.err)
				}
			case err != nil || u.Name != tc.user || u.Role != tc.role || !u.Authenticated():
				t.Errorf("Authenticate() = %+v, %v; want %s, %s", u, err, tc.user, tc.role)
			}
		})
	}
	open, err := users.NewDirectory(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := open.Authenticate(t.Context()); err != nil || u != users.Anonymous || u.Authenticated() || u.Role != users.Admin {
		t.Errorf("Authenticate() without any token = %+v, %v; want Anonymous, an unnamed admin", u, err)
	}
	closed, err := users.NewDirectory(&users.File{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := closed.Authenticate(metadata.NewIncomingContext(t.Context(), call("CT"))); err == nil {
		t.Errorf("Authenticate() with an empty users file = %+v, want refused", u)
	}
	f.Users[0].Name = users.TokenUser
	if _, err := users.NewDirectory(f, "CT"); err == nil || !strings.Contains(err.Error(), "rename this user") {
		t.Errorf("NewDirectory(a user named %s, a token) = %v, want refused", users.TokenUser, err)
	}
}
