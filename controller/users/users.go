// Package users is who may call a socklab controller: the users file (each user's name,
// role and token hash, the labs published to students and the agents assigned to each
// student), the tokens handed out to users, and the gRPC interceptors that turn a call's
// bearer token into its user.
//
// A token is 32 random bytes; the file keeps only its SHA-256. A slow password hash
// (bcrypt, scrypt, Argon2) exists to make guessing a low-entropy password expensive; a
// 256-bit random token cannot be guessed at any speed, so a fast, unsalted SHA-256 is as
// strong here, and it keeps authentication cheap enough to run on every call.
package users

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Role is what a user may do on a controller.
type Role string

// The roles.
const (
	// Admin may do everything.
	Admin Role = "admin"
	// Instructor may run any lab on any agent of the inventory, and read and cancel
	// every user's runs.
	Instructor Role = "instructor"
	// Student may run only the labs the users file publishes, only on the agents
	// assigned to them (never choosing one), and read and cancel only their own runs.
	Student Role = "student"
)

// Roles are the roles, from the most to the least trusted.
var Roles = []Role{Admin, Instructor, Student}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r == Admin || r == Instructor || r == Student }

// File is a users file:
//
//	labs:                        # published: the labs students may run, by name
//	  - tcp-simple               # a built-in lab
//	  - labs/echo-server.star    # a lab file on the controller's host (relative to this file)
//	users:
//	  - name: alice
//	    role: student
//	    token_sha256: "3a7b..."  # socklab users add alice --role student
//	    agents: [pc1, pc2]       # the inventory agents alice's runs go to
//	  - name: bob
//	    role: instructor
//	    token_sha256: "91c0..."
type File struct {
	// Labs are the labs published to students: built-in lab names, or paths of lab
	// files (ending in .star, or holding a /), made absolute by Load.
	Labs []string `yaml:"labs"`
	// Users are the controller's users.
	Users []User `yaml:"users"`
}

// User is one user of a controller.
type User struct {
	// Name names the user; their runs are recorded under it.
	Name string `yaml:"name"`
	// Role is what they may do.
	Role Role `yaml:"role"`
	// TokenSHA256 is the hex SHA-256 of their token (Hash); never the token itself.
	TokenSHA256 string `yaml:"token_sha256"`
	// Agents are, for a student, the names of the inventory agents their runs go to.
	Agents []string `yaml:"agents,omitempty,flow"`
}

// Authenticated reports whether u is a user the controller knows by a token: every
// user but Anonymous.
func (u *User) Authenticated() bool { return u.Name != "" }

// Anonymous is every caller of a controller that asks for no token (neither --token nor
// --users): an admin without a name, as such a controller has always treated callers,
// whose runs record no owner.
var Anonymous = &User{Role: Admin}

// TokenUser is the name of the admin that a controller's plain --token authenticates.
const TokenUser = "admin"

// validName is what a user name may be: a login or an email address.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// CheckName returns an error when name cannot name a user.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("user name %q: use 1 to 64 letters, digits and . _ @ + - (a login or an email address)", name)
	}
	return nil
}

// IsLabPath reports whether a published lab names a file rather than a built-in lab.
func IsLabPath(lab string) bool {
	return strings.HasSuffix(lab, ".star") || strings.ContainsRune(lab, '/')
}

// Load reads a users file. Unknown fields, bad names, roles and hashes, a name or a hash
// given twice and agents assigned to anyone but a student are errors naming the user;
// published lab paths are made absolute, relative to the file's directory.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i, l := range f.Labs {
		if IsLabPath(l) && !filepath.IsAbs(l) {
			f.Labs[i] = filepath.Join(dir, l)
		}
	}
	return &f, nil
}

// check validates a file's users and published labs.
func (f *File) check() error {
	names, hashes, labs := map[string]bool{}, map[string]string{}, map[string]bool{}
	for i, u := range f.Users {
		if u.Name == "" {
			return fmt.Errorf("user %d has no name", i+1)
		}
		if err := CheckName(u.Name); err != nil {
			return err
		}
		if names[u.Name] {
			return fmt.Errorf("user %s is listed twice", u.Name)
		}
		names[u.Name] = true
		if !u.Role.Valid() {
			return fmt.Errorf("user %s: role %q: use admin, instructor or student", u.Name, u.Role)
		}
		if err := checkHash(u.TokenSHA256); err != nil {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
		if other, ok := hashes[u.TokenSHA256]; ok {
			return fmt.Errorf("users %s and %s have the same token: give each a token of their own (socklab users add)", other, u.Name)
		}
		hashes[u.TokenSHA256] = u.Name
		if len(u.Agents) > 0 && u.Role != Student {
			return fmt.Errorf("user %s: agents are assigned to students; an %s may use every agent", u.Name, u.Role)
		}
		for i, a := range u.Agents {
			if slices.Contains(u.Agents[:i], a) {
				return fmt.Errorf("user %s: agent %s is assigned twice", u.Name, a)
			}
		}
	}
	for _, l := range f.Labs {
		switch {
		case l == "":
			return errors.New("labs: an empty lab name")
		case labs[l]:
			return fmt.Errorf("labs: %s is published twice", l)
		}
		labs[l] = true
	}
	return nil
}

// checkHash returns an error unless h is a SHA-256 in lower-case hex.
func checkHash(h string) error {
	if h == "" {
		return errors.New("no token_sha256: make one with socklab users add")
	}
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 || h != strings.ToLower(h) {
		return fmt.Errorf("token_sha256 %q: want 64 lower-case hex digits, the SHA-256 of the token (socklab users add), never the token", h)
	}
	return nil
}

// Entry is u as a users file lists it: the lines to add under users:.
func Entry(u User) (string, error) {
	b, err := yaml.Marshal([]User{u})
	if err != nil {
		return "", fmt.Errorf("users entry %s: %w", u.Name, err)
	}
	return string(b), nil
}
