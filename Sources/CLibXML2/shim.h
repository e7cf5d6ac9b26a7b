// libxml2, for the S3 API's request documents (see SluiceStore's S3XML.swift).
//
// Debian's libxml2 is built with ICU, and its encoding.h then includes ICU's headers,
// whose enums clash with the ICU that Foundation carries. Sluice uses none of it: the
// converter types are declared opaque here and ICU's own header is kept out.
#define UCNV_H 1
typedef struct UConverter UConverter;
typedef unsigned short UChar;
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
