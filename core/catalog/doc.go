// Package catalog reads instance type catalogs: JSON files that list instance
// types with their resources and offerings (zone, capacity type, price,
// availability). The simulated cloud sells what a catalog lists, and
// `tailor plan` prices its plans with one.
//
// Tailor ships built-in catalogs (see Builtin) derived from public price lists;
// users can pass their own file in the same format:
//
//	{"instanceTypes": [{
//	    "name": "m6i.large", "arch": "amd64", "operatingSystems": ["linux"],
//	    "resources": {"cpu": "2", "memory": "8Gi", "pods": "29", "ephemeral-storage": "20Gi"},
//	    "offerings": [{"zone": "us-west-2a", "capacityType": "spot", "price": 0.035, "available": true}]
//	}]}
//
// Optional fields: "labels" on an instance type adds well-known labels such as
// tailor.sh/instance-gpu-name; "overhead" at the top names the model of
// kubelet reservations (see Overhead models in docs/catalogs.md).
package catalog
