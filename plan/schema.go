package plan

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"

	"github.com/tailor-sh/tailor/config/crd"
)

// crdValidator checks an object of one of Tailor's CRDs as the API server
// does on create: the schema's defaults, then metadata.name, the OpenAPI
// schema (with kube-openapi, as the API server) and the CEL rules (with
// the small evaluator in cel.go). The CRD is read from config/crd, so that
// the rules there are the rules here.
type crdValidator struct {
	kind    string
	schema  *apiextensionsv1.JSONSchemaProps
	openapi *validate.SchemaValidator
	// rules are the compiled CEL rules by source; unsupported lists the
	// rules the evaluator cannot run, with why, which are not checked.
	rules       map[string]*celProgram
	unsupported map[string]string
	namespaced  bool
}

func crdValidators() (map[schema.GroupVersionKind]*crdValidator, error) {
	crds, err := crd.All()
	if err != nil {
		return nil, err
	}
	out := map[schema.GroupVersionKind]*crdValidator{}
	for _, c := range crds {
		for _, version := range c.Spec.Versions {
			if version.Schema == nil || version.Schema.OpenAPIV3Schema == nil {
				continue
			}
			v, err := newCRDValidator(c.Spec.Names.Kind, version.Schema.OpenAPIV3Schema, c.Spec.Scope == apiextensionsv1.NamespaceScoped)
			if err != nil {
				return nil, fmt.Errorf("CRD %s, version %s: %w", c.Name, version.Name, err)
			}
			out[schema.GroupVersionKind{Group: c.Spec.Group, Version: version.Name, Kind: c.Spec.Names.Kind}] = v
		}
	}
	return out, nil
}

func newCRDValidator(kind string, s *apiextensionsv1.JSONSchemaProps, namespaced bool) (*crdValidator, error) {
	openapi, err := toOpenAPI(s)
	if err != nil {
		return nil, err
	}
	v := &crdValidator{kind: kind, schema: s, namespaced: namespaced, rules: map[string]*celProgram{}, unsupported: map[string]string{},
		openapi: validate.NewSchemaValidator(openapi, nil, "", strfmt.Default)}
	v.compile(s)
	return v, nil
}

func (v *crdValidator) compile(s *apiextensionsv1.JSONSchemaProps) {
	for _, rule := range s.XValidations {
		if _, done := v.rules[rule.Rule]; done {
			continue
		}
		prog, err := compileCEL(rule.Rule)
		if err != nil {
			v.unsupported[rule.Rule] = err.Error()
		}
		v.rules[rule.Rule] = prog
	}
	for _, child := range children(s) {
		v.compile(child)
	}
}

func children(s *apiextensionsv1.JSONSchemaProps) []*apiextensionsv1.JSONSchemaProps {
	var out []*apiextensionsv1.JSONSchemaProps
	for name := range s.Properties {
		p := s.Properties[name]
		out = append(out, &p)
	}
	if s.Items != nil && s.Items.Schema != nil {
		out = append(out, s.Items.Schema)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		out = append(out, s.AdditionalProperties.Schema)
	}
	return out
}

// warnings name the rules tailor plan could not check.
func (v *crdValidator) warnings() []string {
	var out []string
	for rule, why := range v.unsupported {
		out = append(out, fmt.Sprintf("%s rule %q is not checked by tailor plan (%s); the API server will check it", v.kind, rule, why))
	}
	slices.Sort(out)
	return out
}

// validate checks object, a JSON object as read, without changing it.
func (v *crdValidator) validate(object map[string]any) error {
	obj := runtime.DeepCopyJSON(object)
	applyDefaults(v.schema, obj)
	var errs field.ErrorList
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "name or generateName is required"))
	} else {
		for _, msg := range apivalidation.NameIsDNSSubdomain(name, false) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), name, msg))
		}
	}
	errs = append(errs, openAPIErrors(v.openapi.Validate(obj))...)
	errs = append(errs, v.celErrors(nil, v.schema, obj)...)
	return errs.ToAggregate()
}

// celErrors runs the rules of s on value, and those below on what is
// below, as the API server's CEL validator does.
func (v *crdValidator) celErrors(path *field.Path, s *apiextensionsv1.JSONSchemaProps, value any) field.ErrorList {
	if value == nil {
		return nil
	}
	var errs field.ErrorList
	for _, rule := range s.XValidations {
		prog := v.rules[rule.Rule]
		if prog == nil || prog.usesOldSelf {
			continue // not supported (a warning says so), or only for updates
		}
		ok, err := asBool(prog.eval(celEnv{"self": value}))
		where := path
		if rule.FieldPath != "" {
			prefix := ""
			if path != nil {
				prefix = path.String()
			}
			where = field.NewPath(strings.TrimPrefix(prefix+rule.FieldPath, "."))
		}
		shown := value
		if s.Type == "object" || s.Type == "array" {
			shown = field.OmitValueType{}
		}
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(where, s.Type, fmt.Sprintf("%v evaluating rule: %s", err, ruleMessage(rule))))
		case ok:
		case rule.Reason != nil && *rule.Reason == apiextensionsv1.FieldValueForbidden:
			errs = append(errs, field.Forbidden(where, ruleMessage(rule)))
		case rule.Reason != nil && *rule.Reason == apiextensionsv1.FieldValueRequired:
			errs = append(errs, field.Required(where, ruleMessage(rule)))
		case rule.Reason != nil && *rule.Reason == apiextensionsv1.FieldValueDuplicate:
			errs = append(errs, field.Duplicate(where, shown))
		default:
			errs = append(errs, field.Invalid(where, shown, ruleMessage(rule)))
		}
	}
	switch x := value.(type) {
	case map[string]any:
		for name, sub := range x {
			if p, ok := s.Properties[name]; ok {
				errs = append(errs, v.celErrors(childPath(path, name), &p, sub)...)
			} else if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				errs = append(errs, v.celErrors(keyPath(path, name), s.AdditionalProperties.Schema, sub)...)
			}
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for i, sub := range x {
				errs = append(errs, v.celErrors(indexPath(path, i), s.Items.Schema, sub)...)
			}
		}
	}
	return errs
}

func childPath(p *field.Path, name string) *field.Path {
	if p == nil {
		return field.NewPath(name)
	}
	return p.Child(name)
}

func keyPath(p *field.Path, key string) *field.Path {
	if p == nil {
		return field.NewPath("").Key(key)
	}
	return p.Key(key)
}

func indexPath(p *field.Path, i int) *field.Path {
	if p == nil {
		return field.NewPath("").Index(i)
	}
	return p.Index(i)
}

func ruleMessage(rule apiextensionsv1.ValidationRule) string {
	if rule.Message != "" {
		return strings.TrimSpace(rule.Message)
	}
	return "failed rule: " + strings.TrimSpace(rule.Rule)
}

// applyDefaults sets the schema's defaults where value lacks the field, as
// the API server does before it validates.
func applyDefaults(s *apiextensionsv1.JSONSchemaProps, value any) {
	switch x := value.(type) {
	case map[string]any:
		for name, p := range s.Properties {
			if _, ok := x[name]; !ok && p.Default != nil {
				var def any
				if err := json.Unmarshal(p.Default.Raw, &def); err == nil {
					x[name] = runtime.DeepCopyJSONValue(fixNumbers(def))
				}
			}
			if sub, ok := x[name]; ok {
				applyDefaults(&p, sub)
			}
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			for name, sub := range x {
				if _, ok := s.Properties[name]; !ok {
					applyDefaults(s.AdditionalProperties.Schema, sub)
				}
			}
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for _, sub := range x {
				applyDefaults(s.Items.Schema, sub)
			}
		}
	}
}

// fixNumbers turns JSON's float64 integers into int64, as objects read
// through apimachinery hold them.
func fixNumbers(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	case map[string]any:
		for k, sub := range x {
			x[k] = fixNumbers(sub)
		}
	case []any:
		for i, sub := range x {
			x[i] = fixNumbers(sub)
		}
	}
	return v
}

// openAPIErrors turns kube-openapi's result into the API server's field
// errors (apiextensions-apiserver's kubeOpenAPIResultToFieldErrors).
func openAPIErrors(result *validate.Result) field.ErrorList {
	if result.IsValid() {
		return nil
	}
	var errs field.ErrorList
	for _, err := range result.Errors {
		e, ok := err.(*openapierrors.Validation)
		if !ok {
			errs = append(errs, field.Invalid(nil, "", err.Error()))
			continue
		}
		var path *field.Path
		if e.Name != "" && e.Name != "." {
			path = field.NewPath(strings.TrimPrefix(e.Name, "."))
		}
		value := any("")
		if e.Value != nil {
			value = e.Value
		}
		switch e.Code() {
		case openapierrors.RequiredFailCode:
			errs = append(errs, field.Required(path, ""))
		case openapierrors.EnumFailCode:
			var values []string
			for _, allowed := range e.Values {
				if s, ok := allowed.(string); ok {
					values = append(values, s)
				} else {
					j, _ := json.Marshal(allowed)
					values = append(values, string(j))
				}
			}
			errs = append(errs, field.NotSupported(path, e.Value, values))
		case openapierrors.TooLongFailCode:
			limit := int64(-1)
			if i, ok := e.Valid.(int64); ok {
				limit = i
			}
			errs = append(errs, field.TooLong(path, "", int(limit)))
		case openapierrors.MaxItemsFailCode, openapierrors.TooManyPropertiesCode:
			actual, limit := int64(-1), int64(-1)
			if i, ok := e.Value.(int64); ok {
				actual = i
			}
			if i, ok := e.Valid.(int64); ok {
				limit = i
			}
			errs = append(errs, field.TooMany(path, int(actual), int(limit)))
		case openapierrors.InvalidTypeCode:
			errs = append(errs, field.TypeInvalid(path, value, e.Error()))
		default:
			errs = append(errs, field.Invalid(path, value, e.Error()))
		}
	}
	return errs
}

// Formats the API server validates; it drops the others from the schema.
var supportedFormats = map[string]bool{
	"bsonobjectid": true, "uri": true, "email": true, "hostname": true, "ipv4": true, "ipv6": true, "cidr": true, "mac": true,
	"uuid": true, "uuid3": true, "uuid4": true, "uuid5": true, "isbn": true, "isbn10": true, "isbn13": true, "creditcard": true,
	"ssn": true, "hexcolor": true, "rgbcolor": true, "byte": true, "password": true, "date": true, "duration": true, "datetime": true,
}

// toOpenAPI converts a CRD schema into kube-openapi's, as
// apiextensions-apiserver's ConvertJSONSchemaPropsWithPostProcess does.
func toOpenAPI(in *apiextensionsv1.JSONSchemaProps) (*spec.Schema, error) {
	out := &spec.Schema{}
	if in.Type != "" {
		out.Type = spec.StringOrArray{in.Type}
	}
	if in.XIntOrString {
		out.AddExtension("x-kubernetes-int-or-string", true)
		out.Type = spec.StringOrArray{"integer", "string"}
	}
	out.Nullable = in.Nullable
	switch {
	case in.Format == "":
	case in.Type == "" || in.Type == "string":
		if supportedFormats[strings.ReplaceAll(in.Format, "-", "")] {
			out.Format = in.Format
		}
	case in.Type == "integer" && (in.Format == "int32" || in.Format == "int64"):
		out.Format = in.Format
	case in.Type == "number" && (in.Format == "float" || in.Format == "double"):
		out.Format = in.Format
	}
	out.Maximum, out.ExclusiveMaximum = in.Maximum, in.ExclusiveMaximum
	out.Minimum, out.ExclusiveMinimum = in.Minimum, in.ExclusiveMinimum
	out.MaxLength, out.MinLength, out.Pattern = in.MaxLength, in.MinLength, in.Pattern
	out.MaxItems, out.MinItems, out.UniqueItems = in.MaxItems, in.MinItems, in.UniqueItems
	out.MultipleOf, out.MaxProperties, out.MinProperties = in.MultipleOf, in.MaxProperties, in.MinProperties
	out.Required = in.Required
	for _, e := range in.Enum {
		var v any
		if err := json.Unmarshal(e.Raw, &v); err != nil {
			return nil, err
		}
		out.Enum = append(out.Enum, v)
	}
	for _, list := range []struct {
		in  []apiextensionsv1.JSONSchemaProps
		out *[]spec.Schema
	}{{in.AllOf, &out.AllOf}, {in.OneOf, &out.OneOf}, {in.AnyOf, &out.AnyOf}} {
		for i := range list.in {
			s, err := toOpenAPI(&list.in[i])
			if err != nil {
				return nil, err
			}
			*list.out = append(*list.out, *s)
		}
	}
	if in.Not != nil {
		s, err := toOpenAPI(in.Not)
		if err != nil {
			return nil, err
		}
		out.Not = s
	}
	if len(in.Properties) > 0 {
		out.Properties = map[string]spec.Schema{}
		for name := range in.Properties {
			p := in.Properties[name]
			s, err := toOpenAPI(&p)
			if err != nil {
				return nil, err
			}
			out.Properties[name] = *s
		}
	}
	if in.AdditionalProperties != nil {
		out.AdditionalProperties = &spec.SchemaOrBool{Allows: in.AdditionalProperties.Allows}
		if in.AdditionalProperties.Schema != nil {
			s, err := toOpenAPI(in.AdditionalProperties.Schema)
			if err != nil {
				return nil, err
			}
			out.AdditionalProperties.Schema = s
		}
	}
	if in.Items != nil {
		out.Items = &spec.SchemaOrArray{}
		if in.Items.Schema != nil {
			s, err := toOpenAPI(in.Items.Schema)
			if err != nil {
				return nil, err
			}
			out.Items.Schema = s
		}
		for i := range in.Items.JSONSchemas {
			s, err := toOpenAPI(&in.Items.JSONSchemas[i])
			if err != nil {
				return nil, err
			}
			out.Items.Schemas = append(out.Items.Schemas, *s)
		}
	}
	if in.XPreserveUnknownFields != nil && *in.XPreserveUnknownFields {
		out.AddExtension("x-kubernetes-preserve-unknown-fields", true)
	}
	if in.XEmbeddedResource {
		out.AddExtension("x-kubernetes-embedded-resource", true)
	}
	return out, nil
}
