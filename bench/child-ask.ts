import type { ChildProcess } from 'node:child_process';

/** Sends `message` to a forked bench process and waits for its reply of type `answer` (rejects on its `error` reply). */
export function ask<T>(child: ChildProcess, message: object, answer: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string; message?: string }) => {
      if (m.type === answer) {
        child.off('message', on);
        resolve(m as T);
      } else if (m.type === 'error') {
        child.off('message', on);
        reject(new Error(m.message));
      }
    };
    child.on('message', on);
    child.send(message);
  });
}
