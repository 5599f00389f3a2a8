package plan

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	"github.com/tailor-sh/tailor/config/crd"
)

// crdValidator checks an object of one of Tailor's CRDs as the API server
// does on create, with the API server's own code: the structural schema's
// defaults, metadata.name, the OpenAPI schema, then the CEL rules. The CRD
// is read from config/crd, so that the rules there are the rules here.
type crdValidator struct {
	structural *structuralschema.Structural
	openapi    apiservervalidation.SchemaValidator
	cel        *cel.Validator
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
			v, err := newCRDValidator(version.Schema.OpenAPIV3Schema)
			if err != nil {
				return nil, fmt.Errorf("CRD %s, version %s: %w", c.Name, version.Name, err)
			}
			out[schema.GroupVersionKind{Group: c.Spec.Group, Version: version.Name, Kind: c.Spec.Names.Kind}] = v
		}
	}
	return out, nil
}

func newCRDValidator(v1Schema *apiextensionsv1.JSONSchemaProps) (*crdValidator, error) {
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1Schema, internal, nil); err != nil {
		return nil, err
	}
	structural, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, err
	}
	openapi, _, err := apiservervalidation.NewSchemaValidator(internal)
	if err != nil {
		return nil, err
	}
	return &crdValidator{structural: structural, openapi: openapi, cel: cel.NewValidator(structural, true, celconfig.PerCallLimit)}, nil
}

// validate checks object, a JSON object as read, without changing it.
func (v *crdValidator) validate(object map[string]any) error {
	obj, err := asAPIServerReads(object)
	if err != nil {
		return err
	}
	structuraldefaulting.Default(obj, v.structural)
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
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, v.openapi)...)
	if len(errs) == 0 {
		// The API server runs the CEL rules only on objects the schema
		// accepts.
		celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return errs.ToAggregate()
}

// asAPIServerReads copies object with its numbers as the API server decodes
// JSON: whole numbers as int64, others as float64.
func asAPIServerReads(object map[string]any) (map[string]any, error) {
	data, err := json.Marshal(object)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := utiljson.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}
