/* terraform_appmesh.c: App Mesh's resources in the JSON `terraform show -json` prints for a
 * state or a saved plan, read into the normalized mesh (record_appmesh.c) as the CRDs are.
 * docs/import.md ("App Mesh", "The Terraform form"). */
#include "appmesh_int.h"

int mp_appmesh_tf_object(mp_import *im, uint32_t doc, am_object *o)
{
	(void)o;
	return im_error(im, &im->docs[doc], im->docs[doc].root, "not yet");
}

void mp_appmesh_tf_put(mp_import *im, am_build *b, uint32_t k)
{
	(void)im;
	(void)b;
	(void)k;
}
