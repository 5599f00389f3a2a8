package plan

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// A small evaluator for the subset of CEL that CRD validation rules are
// written in: self and its fields, has(), size(), matches(), startsWith(),
// endsWith(), contains(), all() and exists() over lists and maps, in,
// exists_one(), duration(), type(), comparisons, !, && and || (which, as in CEL, forgive an error on one side
// when the other decides), the conditional operator, and literals. The API
// server runs the rules with cel-go, which tailor plan does not link (it
// would bring k8s.io/apiserver and cel-go into the CLI); a rule outside the
// subset fails to compile here and is reported as not checked.

type celEnv map[string]any

type celExpr func(env celEnv) (any, error)

type celProgram struct {
	eval celExpr
	// usesOldSelf marks a transition rule, which runs only on updates.
	usesOldSelf bool
}

var errNoSuchOverload = errors.New("no such overload")

type celParser struct {
	toks []string
	pos  int
	prog *celProgram
}

var celToken = regexp.MustCompile(`^(\s+|[A-Za-z_][A-Za-z0-9_]*|[0-9]+(\.[0-9]+)?|'(\\.|[^'\\])*'|"(\\.|[^"\\])*"|&&|\|\||==|!=|<=|>=|[-+*/%<>!()\[\].,?:{}])`)

func compileCEL(src string) (prog *celProgram, err error) {
	var toks []string
	for rest := src; rest != ""; {
		m := celToken.FindString(rest)
		if m == "" {
			return nil, fmt.Errorf("unexpected %q", rest)
		}
		if strings.TrimSpace(m) != "" {
			toks = append(toks, m)
		}
		rest = rest[len(m):]
	}
	p := &celParser{toks: toks, prog: &celProgram{}}
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, fmt.Errorf("%v", r)
		}
	}()
	e := p.conditional()
	if p.pos != len(p.toks) {
		panic(fmt.Sprintf("unexpected %q", p.toks[p.pos]))
	}
	p.prog.eval = e
	return p.prog, nil
}

func (p *celParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *celParser) next() string {
	t := p.peek()
	if t == "" {
		panic("unexpected end of rule")
	}
	p.pos++
	return t
}

func (p *celParser) expect(t string) {
	if got := p.next(); got != t {
		panic(fmt.Sprintf("want %q, have %q", t, got))
	}
}

func (p *celParser) conditional() celExpr {
	cond := p.or()
	if p.peek() != "?" {
		return cond
	}
	p.next()
	yes := p.conditional()
	p.expect(":")
	no := p.conditional()
	return func(env celEnv) (any, error) {
		c, err := cond(env)
		if err != nil {
			return nil, err
		}
		b, ok := c.(bool)
		if !ok {
			return nil, errNoSuchOverload
		}
		if b {
			return yes(env)
		}
		return no(env)
	}
}

// logical builds && and ||: decided is the value that decides (true for
// ||), and an error on one side is forgiven if the other side decides.
func logical(l, r celExpr, decided bool) celExpr {
	return func(env celEnv) (any, error) {
		a, errA := asBool(l(env))
		if errA == nil && a == decided {
			return decided, nil
		}
		b, errB := asBool(r(env))
		if errB == nil && b == decided {
			return decided, nil
		}
		if errA != nil {
			return nil, errA
		}
		if errB != nil {
			return nil, errB
		}
		return !decided, nil
	}
}

func asBool(v any, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, errNoSuchOverload
	}
	return b, nil
}

func (p *celParser) or() celExpr {
	e := p.and()
	for p.peek() == "||" {
		p.next()
		e = logical(e, p.and(), true)
	}
	return e
}

func (p *celParser) and() celExpr {
	e := p.relation()
	for p.peek() == "&&" {
		p.next()
		e = logical(e, p.relation(), false)
	}
	return e
}

func (p *celParser) relation() celExpr {
	e := p.additive()
	for {
		op := p.peek()
		switch op {
		case "==", "!=", "<", "<=", ">", ">=", "in":
		default:
			return e
		}
		p.next()
		l, r := e, p.additive()
		e = func(env celEnv) (any, error) {
			a, err := l(env)
			if err != nil {
				return nil, err
			}
			b, err := r(env)
			if err != nil {
				return nil, err
			}
			return compare(op, a, b)
		}
	}
}

func compare(op string, a, b any) (any, error) {
	switch op {
	case "==":
		return celEqual(a, b), nil
	case "!=":
		return !celEqual(a, b), nil
	case "in":
		switch c := b.(type) {
		case []any:
			for _, x := range c {
				if celEqual(a, x) {
					return true, nil
				}
			}
			return false, nil
		case map[string]any:
			k, ok := a.(string)
			if !ok {
				return nil, errNoSuchOverload
			}
			_, in := c[k]
			return in, nil
		}
		return nil, errNoSuchOverload
	}
	var cmp int
	switch x := a.(type) {
	case time.Duration:
		y, ok := b.(time.Duration)
		if !ok {
			return nil, errNoSuchOverload
		}
		cmp = int(max(min(x-y, 1), -1))
	case string:
		y, ok := b.(string)
		if !ok {
			return nil, errNoSuchOverload
		}
		cmp = strings.Compare(x, y)
	default:
		fx, okx := number(a)
		fy, oky := number(b)
		if !okx || !oky {
			return nil, errNoSuchOverload
		}
		switch {
		case fx < fy:
			cmp = -1
		case fx > fy:
			cmp = 1
		}
	}
	switch op {
	case "<":
		return cmp < 0, nil
	case "<=":
		return cmp <= 0, nil
	case ">":
		return cmp > 0, nil
	}
	return cmp >= 0, nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func celEqual(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func (p *celParser) additive() celExpr {
	e := p.unary()
	for p.peek() == "+" || p.peek() == "-" {
		op := p.next()
		l, r := e, p.unary()
		e = func(env celEnv) (any, error) {
			a, err := l(env)
			if err != nil {
				return nil, err
			}
			b, err := r(env)
			if err != nil {
				return nil, err
			}
			x, okx := a.(int64)
			y, oky := b.(int64)
			switch {
			case okx && oky && op == "+":
				return x + y, nil
			case okx && oky:
				return x - y, nil
			}
			s, oks := a.(string)
			t, okt := b.(string)
			if oks && okt && op == "+" {
				return s + t, nil
			}
			return nil, errNoSuchOverload
		}
	}
	return e
}

func (p *celParser) unary() celExpr {
	switch p.peek() {
	case "!":
		p.next()
		e := p.unary()
		return func(env celEnv) (any, error) {
			b, err := asBool(e(env))
			if err != nil {
				return nil, err
			}
			return !b, nil
		}
	case "-":
		p.next()
		e := p.unary()
		return func(env celEnv) (any, error) {
			v, err := e(env)
			if err != nil {
				return nil, err
			}
			switch x := v.(type) {
			case int64:
				return -x, nil
			case float64:
				return -x, nil
			}
			return nil, errNoSuchOverload
		}
	}
	return p.member()
}

func (p *celParser) member() celExpr {
	e, _, _ := p.memberChain()
	return e
}

// memberChain parses selections, indexes and method calls after a primary;
// when the chain ends in a field selection it also returns what the field
// is selected from, and the field, for has().
func (p *celParser) memberChain() (e, before celExpr, field string) {
	e = p.primary()
	for {
		switch p.peek() {
		case ".":
			p.next()
			name := p.next()
			if !isIdent(name) {
				panic(fmt.Sprintf("want a field name after '.', have %q", name))
			}
			if p.peek() == "(" {
				e, before, field = p.method(e, name), nil, ""
			} else {
				e, before, field = selectField(e, name), e, name
			}
		case "[":
			p.next()
			index := p.conditional()
			p.expect("]")
			e, before, field = indexInto(e, index), nil, ""
		default:
			return e, before, field
		}
	}
}

func selectField(e celExpr, name string) celExpr {
	return func(env celEnv) (any, error) {
		v, err := e(env)
		if err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errNoSuchOverload
		}
		f, ok := m[name]
		if !ok {
			return nil, fmt.Errorf("no such key: %s", name)
		}
		return f, nil
	}
}

func indexInto(e, index celExpr) celExpr {
	return func(env celEnv) (any, error) {
		v, err := e(env)
		if err != nil {
			return nil, err
		}
		i, err := index(env)
		if err != nil {
			return nil, err
		}
		switch c := v.(type) {
		case map[string]any:
			k, ok := i.(string)
			if !ok {
				return nil, errNoSuchOverload
			}
			f, ok := c[k]
			if !ok {
				return nil, fmt.Errorf("no such key: %s", k)
			}
			return f, nil
		case []any:
			n, ok := i.(int64)
			if !ok {
				return nil, errNoSuchOverload
			}
			if n < 0 || n >= int64(len(c)) {
				return nil, fmt.Errorf("index out of bounds: %d", n)
			}
			return c[n], nil
		}
		return nil, errNoSuchOverload
	}
}

func (p *celParser) args() []celExpr {
	p.expect("(")
	var out []celExpr
	for p.peek() != ")" {
		out = append(out, p.conditional())
		if p.peek() != ")" {
			p.expect(",")
		}
	}
	p.next()
	return out
}

// method parses target.name(args): the macros all and exists, and the
// string and size functions.
func (p *celParser) method(target celExpr, name string) celExpr {
	if name == "all" || name == "exists" || name == "exists_one" {
		p.expect("(")
		variable := p.next()
		p.expect(",")
		pred := p.conditional()
		p.expect(")")
		return quantifier(target, variable, pred, name)
	}
	args := p.args()
	return call(name, append([]celExpr{target}, args...))
}

func quantifier(target celExpr, variable string, pred celExpr, macro string) celExpr {
	return func(env celEnv) (any, error) {
		v, err := target(env)
		if err != nil {
			return nil, err
		}
		var elems []any
		switch c := v.(type) {
		case []any:
			elems = c
		case map[string]any:
			for k := range c {
				elems = append(elems, k)
			}
		default:
			return nil, errNoSuchOverload
		}
		inner := make(celEnv, len(env)+1)
		for k, x := range env {
			inner[k] = x
		}
		var firstErr error
		matched := 0
		for _, x := range elems {
			inner[variable] = x
			b, err := asBool(pred(inner))
			switch {
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			case b && macro == "exists":
				return true, nil
			case !b && macro == "all":
				return false, nil
			case b:
				matched++
			}
		}
		if firstErr != nil {
			return nil, firstErr
		}
		switch macro {
		case "exists":
			return false, nil
		case "all":
			return true, nil
		}
		return matched == 1, nil
	}
}

// celType is the value of type(x) and of the type names int, string...
type celType string

func typeOf(v any) celType {
	switch v.(type) {
	case int64:
		return "int"
	case float64:
		return "double"
	case string:
		return "string"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "map"
	case time.Duration:
		return "google.protobuf.Duration"
	case celType:
		return "type"
	}
	return "null_type"
}

func call(name string, args []celExpr) celExpr {
	arity := map[string]int{"size": 1, "matches": 2, "startsWith": 2, "endsWith": 2, "contains": 2, "duration": 1, "type": 1}
	if n, ok := arity[name]; !ok || n != len(args) {
		panic(fmt.Sprintf("function %s of %d arguments is not supported", name, len(args)))
	}
	return func(env celEnv) (any, error) {
		vals := make([]any, len(args))
		for i, a := range args {
			v, err := a(env)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		switch name {
		case "type":
			return typeOf(vals[0]), nil
		case "duration":
			s, ok := vals[0].(string)
			if !ok {
				return nil, errNoSuchOverload
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				return nil, fmt.Errorf("type conversion error from 'string' to 'google.protobuf.Duration'")
			}
			return d, nil
		}
		if name == "size" {
			switch x := vals[0].(type) {
			case string:
				return int64(utf8.RuneCountInString(x)), nil
			case []any:
				return int64(len(x)), nil
			case map[string]any:
				return int64(len(x)), nil
			}
			return nil, errNoSuchOverload
		}
		s, ok1 := vals[0].(string)
		t, ok2 := vals[1].(string)
		if !ok1 || !ok2 {
			return nil, errNoSuchOverload
		}
		switch name {
		case "matches":
			re, err := compiledRegexp(t)
			if err != nil {
				return nil, err
			}
			return re.MatchString(s), nil
		case "startsWith":
			return strings.HasPrefix(s, t), nil
		case "endsWith":
			return strings.HasSuffix(s, t), nil
		}
		return strings.Contains(s, t), nil
	}
}

func (p *celParser) primary() celExpr {
	t := p.next()
	switch {
	case t == "(":
		e := p.conditional()
		p.expect(")")
		return e
	case t == "[":
		var elems []celExpr
		for p.peek() != "]" {
			elems = append(elems, p.conditional())
			if p.peek() != "]" {
				p.expect(",")
			}
		}
		p.next()
		return func(env celEnv) (any, error) {
			out := make([]any, len(elems))
			for i, e := range elems {
				v, err := e(env)
				if err != nil {
					return nil, err
				}
				out[i] = v
			}
			return out, nil
		}
	case t[0] == '\'' || t[0] == '"':
		s, err := unquoteCEL(t)
		if err != nil {
			panic(err.Error())
		}
		return constant(s)
	case t[0] >= '0' && t[0] <= '9':
		if strings.Contains(t, ".") {
			f, _ := strconv.ParseFloat(t, 64)
			return constant(f)
		}
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			panic(err.Error())
		}
		return constant(n)
	case t == "true" || t == "false":
		return constant(t == "true")
	case t == "null":
		return constant(nil)
	case t == "has" && p.peek() == "(":
		return p.has()
	case (t == "size" || t == "duration" || t == "type") && p.peek() == "(":
		return call(t, p.args())
	case isIdent(t):
		if p.peek() == "(" {
			panic(fmt.Sprintf("function %s is not supported", t))
		}
		if t == "oldSelf" {
			p.prog.usesOldSelf = true
		}
		return func(env celEnv) (any, error) {
			v, ok := env[t]
			if !ok {
				switch t {
				case "int", "uint", "double", "string", "bool", "bytes", "list", "map", "null_type", "type":
					return celType(t), nil
				}
				return nil, fmt.Errorf("undeclared reference to '%s'", t)
			}
			return v, nil
		}
	}
	panic(fmt.Sprintf("unexpected %q", t))
}

// has is the has() macro: its operand must be a field selection, whose
// presence it tests.
func (p *celParser) has() celExpr {
	p.expect("(")
	_, target, name := p.memberChain()
	p.expect(")")
	if target == nil {
		panic("has() wants a field selection")
	}
	return func(env celEnv) (any, error) {
		v, err := target(env)
		if err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errNoSuchOverload
		}
		_, present := m[name]
		return present, nil
	}
}

// regexps caches the patterns of matches(), which rules give as constants.
var regexps sync.Map

func compiledRegexp(pattern string) (*regexp.Regexp, error) {
	if re, ok := regexps.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	regexps.Store(pattern, re)
	return re, nil
}

func constant(v any) celExpr { return func(celEnv) (any, error) { return v, nil } }

func isIdent(t string) bool {
	return t != "" && (t[0] == '_' || (t[0]|0x20 >= 'a' && t[0]|0x20 <= 'z'))
}

func unquoteCEL(t string) (string, error) {
	body := t[1 : len(t)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(body) {
			return "", fmt.Errorf("bad escape in %s", t)
		}
		switch body[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '\\', '\'', '"':
			b.WriteByte(body[i])
		default:
			return "", fmt.Errorf("escape \\%c in %s is not supported", body[i], t)
		}
	}
	return b.String(), nil
}
