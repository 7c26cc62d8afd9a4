/*-------------------------------------------------------------------------
 *
 * sslcompat.c
 *		Makes Debian's CivetWeb 1.15 work with OpenSSL 3 for HTTPS.
 *
 *		That CivetWeb loads OpenSSL at run time with dlopen("libssl.so") and
 *		dlsym, and after every TLS handshake calls SSL_get_peer_certificate,
 *		which OpenSSL 3 no longer exports (it became a macro for
 *		SSL_get1_peer_certificate): the pointer is NULL and the worker
 *		thread crashes.  This small library has the soname "libssl.so" and
 *		is loaded with the gateway, so CivetWeb's dlopen("libssl.so") finds
 *		it already loaded; dlsym then searches it first and then its
 *		dependency, the real libssl.so.3, for every other function.
 *
 *-------------------------------------------------------------------------
 */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

X509	   *SSL_get_peer_certificate(const SSL *ssl);

/* The OpenSSL 1.1 function: the peer's certificate, with a new reference. */
X509 *
SSL_get_peer_certificate(const SSL *ssl)
{
	return SSL_get1_peer_certificate(ssl);
}
