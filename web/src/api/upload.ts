import { GraphQLRequestError, reportUnauthenticated } from './graphql';
import { storedToken } from './session';

/** What the gateway answers to a finished upload. */
export interface UploadedImage {
  id: string;
  digest: string;
  sizeBytes: number;
}

/**
 * Uploads an image's bits, a root filesystem tarball or another format a driver takes (`PUT /images/:id/content`, as `rsp image upload`
 * does) with the stored token, calling `onProgress` with the share sent (0–1). A refusal is
 * thrown as a GraphQLRequestError with the gateway's code (FORBIDDEN, CONFLICT for a storage
 * quota, BAD_USER_INPUT…); a lost connection as NETWORK.
 */
export function uploadImage(imageId: string, file: Blob, onProgress: (sent: number) => void): Promise<UploadedImage> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', `/images/${encodeURIComponent(imageId)}/content`);
    const token = storedToken();
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new GraphQLRequestError('The upload was cut off (the gateway cannot be reached)', 'NETWORK'));
    xhr.onload = () => {
      let body: { id?: string; digest?: string; sizeBytes?: number; errors?: Array<{ message: string; extensions?: { code?: string } }> } = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // Not JSON: said below with the HTTP status.
      }
      const first = body.errors?.[0];
      if (xhr.status >= 200 && xhr.status < 300 && body.id) {
        onProgress(1);
        resolve({ id: body.id, digest: body.digest ?? '', sizeBytes: body.sizeBytes ?? file.size });
        return;
      }
      const error = new GraphQLRequestError(first?.message ?? `The upload failed: HTTP ${xhr.status}`, first?.extensions?.code ?? 'NETWORK');
      if (error.code === 'UNAUTHENTICATED') reportUnauthenticated(error);
      reject(error);
    };
    xhr.send(file);
  });
}
