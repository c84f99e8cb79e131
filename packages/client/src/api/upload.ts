import { ApiRequestError, reportApiError } from './http.js';

export interface UploadHandle<T> {
  done: Promise<T>;
  abort: () => void;
}

/**
 * Sends a file as the raw request body with XMLHttpRequest, whose upload events give the progress bar its
 * numbers (fetch has no upload progress). `onProgress` gets a fraction in [0, 1].
 */
export function uploadFile<T>(
  url: string,
  file: Blob,
  onProgress: (fraction: number) => void,
): UploadHandle<T> {
  const xhr = new XMLHttpRequest();
  const done = new Promise<T>((resolve, reject) => {
    xhr.open('POST', url);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(body as T);
      } else {
        const error = new ApiRequestError(
          xhr.status,
          body as never,
          `${xhr.status} ${xhr.statusText || 'upload failed'}`,
        );
        reportApiError(error);
        reject(error);
      }
    };
    xhr.onerror = () => reject(new ApiRequestError(0, null, 'the upload was interrupted'));
    xhr.onabort = () => reject(new DOMException('upload canceled', 'AbortError'));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}
